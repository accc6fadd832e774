"""The one way a subcommand takes an artifact store's location: ``--store`` and ``--endpoint-url``.

Subcommand modules of every package use it (``forecast_cli`` dispatches to them); it imports only
argparse, so it costs nothing at start-up.
"""

from __future__ import annotations

import argparse
import os
from typing import Final

STORE_URL_ENV: Final = "FORECAST_STORE_URL"


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """``--store`` (default ``$FORECAST_STORE_URL``, required when that is unset) and ``--endpoint-url``.

    Every subcommand that works on an artifact store takes its location the same way.
    """
    default = os.environ.get(STORE_URL_ENV)
    parser.add_argument(
        "--store",
        required=default is None,
        default=default,
        help=f"store URL: folder, s3://bucket/prefix or memory:// (default: ${STORE_URL_ENV})",
    )
    parser.add_argument("--endpoint-url", help="S3 endpoint for s3:// stores (default: AWS_ENDPOINT_URL)")
