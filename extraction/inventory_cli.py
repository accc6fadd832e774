"""``forecast-panel inventory --store URL``: object count, bytes, monthly cost, storage trend.

Prints the status JSON and an EMF line (ArtifactStoreBytes, ArtifactStoreObjects) on stdout.
Exit code 0, or 2 when the store cannot be listed or written.
"""

from __future__ import annotations

import argparse
import logging
import sys

from forecast_core.observability import STORAGE_BYTES, STORAGE_OBJECTS, Unit, emit_metrics
from forecast_core.store import ArtifactStore, StoreError
from forecast_core.store_options import add_store_arguments

log = logging.getLogger(__name__)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    add_store_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from extraction.inventory import take_inventory

    try:
        store = ArtifactStore(args.store, endpoint_url=args.endpoint_url)
        status = take_inventory(store)
    except StoreError as error:
        log.error("%s", error)
        return 2
    sys.stdout.write(status.model_dump_json(indent=2) + "\n")
    metrics: dict[str, tuple[float, Unit]] = {
        STORAGE_BYTES: (float(status.total_size_bytes), "Bytes"),
        STORAGE_OBJECTS: (float(status.object_count), "Count"),
    }
    emit_metrics(metrics, service="inventory")
    return 0
