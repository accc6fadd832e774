"""The secondary baseline: a loop over points and raw fields, as in dynamical.org's notebooks.

    python -m benchmarks.baseline_loop --store s3://bucket/store [--variables ...] [--limit 20]

For each source, point and raw field: ``ds[field].isel(init_time=newest).sel(latitude=…,
longitude=…, method="nearest").load()`` — one load per point and field, nothing derived or
written. ``--limit`` times the first N points only (the loop is linear in points); the JSON line
gives the timed count, the loads and the seconds scaled to every point.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402

import xarray  # noqa: E402, F401 (imports counted alike)

IMPORTED = time.perf_counter()

from extraction.plan import choose_init  # noqa: E402
from extraction.selection import load_config  # noqa: E402
from extraction.sources import open_source  # noqa: E402
from forecast_core.registry import node_fields  # noqa: E402
from forecast_core.store import ArtifactStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True)
    parser.add_argument("--variables", nargs="+")
    parser.add_argument("--limit", type=int, help="time this many points and scale up")
    args = parser.parse_args()
    began = time.perf_counter()
    registry, catalogue, config = load_config(ArtifactStore(args.store))
    points = config.enabled_points()
    timed = points[: args.limit] if args.limit else points
    variables = [v for v in catalogue.variables if not args.variables or v.variable_id in args.variables]
    loads = 0
    for source in registry.enabled_sources():
        ds = open_source(source)
        init = choose_init(ds).index
        fields = sorted({f for v in variables for f in node_fields(v.derivations[source.source_id])})
        for point in timed:
            for name in fields:
                at = {"latitude": point.latitude, "longitude": point.longitude}
                ds[name].isel(init_time=init).sel(at, method="nearest").load()
                loads += 1
    seconds = time.perf_counter() - began
    report = {
        "baseline": "loop",
        "points": len(points),
        "timed_points": len(timed),
        "loads": loads,
        "seconds": {"imports": round(IMPORTED - STARTED, 3), "timed": round(seconds, 3)},
        "scaled_seconds": round(seconds * len(points) / max(len(timed), 1) + (IMPORTED - STARTED), 3),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
