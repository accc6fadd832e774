"""Write or check ``lambda/openapi.json``, the OpenAPI document generated from the routes.

``python -m points_api.openapi`` rewrites it; ``--check`` exits 1 when it is out of date.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from points_api.app import openapi_json

DOCUMENT = Path(__file__).resolve().parents[1] / "openapi.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m points_api.openapi")
    parser.add_argument("--check", action="store_true", help="fail if the committed document is out of date")
    args = parser.parse_args(argv)
    current = openapi_json()
    if args.check:
        if not DOCUMENT.exists() or DOCUMENT.read_text(encoding="utf-8") != current:
            sys.stderr.write(f"{DOCUMENT} is out of date: run python -m points_api.openapi\n")
            return 1
        return 0
    DOCUMENT.write_text(current, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
