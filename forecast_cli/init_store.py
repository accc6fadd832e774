"""``forecast-panel init-store``: seed a store's ``dashboard/config/`` (``forecast_core.init_store``)."""

from __future__ import annotations

import argparse
import logging

from forecast_core.init_store import (
    ConfigFileError,
    init_store,
    load_points_file,
    load_registry_file,
    load_variables_file,
)
from forecast_core.store import ArtifactStore, StoreError
from forecast_core.store_options import add_store_arguments

log = logging.getLogger(__name__)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    add_store_arguments(parser)
    parser.add_argument("--registry", help="source registry JSON (default: production dynamical.org sources)")
    parser.add_argument("--variables", help="canonical variables JSON (default: packaged dictionary)")
    parser.add_argument("--points", help="points JSON (default: packaged default points)")
    parser.add_argument("--reset-points", action="store_true", help="overwrite the store's existing points")


def run(args: argparse.Namespace) -> int:
    try:
        registry = load_registry_file(args.registry) if args.registry else None
        variables = load_variables_file(args.variables) if args.variables else None
        points = load_points_file(args.points) if args.points else None
        store = ArtifactStore(args.store, endpoint_url=args.endpoint_url)
        written = init_store(store, registry, variables, points, reset_points=args.reset_points)
    except (ConfigFileError, StoreError) as error:
        log.error("%s", error)
        return 1
    for key in written:
        print(f"wrote {store.url}/{key}")  # noqa: T201
    return 0
