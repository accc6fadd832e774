"""``forecast-panel inventory --store URL``: object count, bytes, monthly cost, storage trend.

Prints the status JSON and an EMF line (ArtifactStoreBytes, ArtifactStoreObjects) on stdout.
Exit code 0, or 2 when the store cannot be listed or written.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from forecast_core.observability import STORAGE_BYTES, STORAGE_OBJECTS, Unit, emf_line
from forecast_core.store import ArtifactStore, StoreError

log = logging.getLogger(__name__)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    default_store = os.environ.get("FORECAST_STORE_URL")
    parser.add_argument(
        "--store",
        required=default_store is None,
        default=default_store,
        help="store URL: folder, s3://bucket/prefix or memory:// (default: FORECAST_STORE_URL)",
    )
    parser.add_argument("--endpoint-url", help="S3 endpoint (default: AWS_ENDPOINT_URL)")


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
    sys.stdout.write(emf_line(metrics, {"Service": "inventory"}) + "\n")
    return 0
