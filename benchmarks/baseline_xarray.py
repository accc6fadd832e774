"""The primary baseline: the point extraction a competent pangeo user writes (one process).

    python -m benchmarks.baseline_xarray --store s3://bucket/store --out s3://bucket/baseline \
        [--variables temperature_2m precipitation snowfall wind_speed_10m]

Reads the store's config (source registry, canonical variables, points) as the pipeline does,
then per source: open it with xarray + dask at the store's native (inner) chunks, one vectorised
``.sel(latitude=DataArray, longitude=DataArray, method="nearest")`` of every point for every raw
field at the newest init with data; ONE ``dask.compute`` for all sources (dask's default
threaded scheduler); the project's pure derivations (``extraction.derive``) in numpy;
``np.quantile`` over members; one Parquet file of member values and one of summaries per
source (``to_dataframe().to_parquet``). It makes no map summary (the pipeline does).

Prints one JSON line: seconds for imports, open, compute (the reads), derive + statistics, write.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402 (the import time is part of the measure)
import json  # noqa: E402

import dask  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

IMPORTED = time.perf_counter()

from extraction.derive import evaluate, ingested_mask, running_total, step_seconds  # noqa: E402
from extraction.plan import choose_init  # noqa: E402
from extraction.selection import load_config  # noqa: E402
from extraction.sources import open_source  # noqa: E402
from forecast_core.registry import node_fields  # noqa: E402
from forecast_core.store import ArtifactStore, s3_storage_options  # noqa: E402

CANONICAL = ("ensemble_member", "lead_time", "point")
QUANTILES = {"q10": 0.1, "q25": 0.25, "median": 0.5, "q75": 0.75, "q90": 0.9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True)
    parser.add_argument("--out", required=True, help="folder or s3:// prefix for the Parquet files")
    parser.add_argument("--variables", nargs="+")
    args = parser.parse_args()
    clock = {"imports": IMPORTED - STARTED}

    began = time.perf_counter()
    registry, catalogue, config = load_config(ArtifactStore(args.store))
    points = config.enabled_points()
    variables = [v for v in catalogue.variables if not args.variables or v.variable_id in args.variables]
    lat = xr.DataArray([p.latitude for p in points], dims="point")
    lon = xr.DataArray([p.longitude for p in points], dims="point")
    lazy, inits = {}, {}
    for source in registry.enabled_sources():
        ds = open_source(source, chunks={})  # dask arrays at the store's own chunks
        inits[source.source_id] = init = choose_init(ds)
        fields = sorted({f for v in variables for f in node_fields(v.derivations[source.source_id])})
        picked = ds[fields].isel(init_time=init.index).sel(latitude=lat, longitude=lon, method="nearest")
        lazy[source.source_id] = picked.transpose(*CANONICAL)
    clock["open"] = time.perf_counter() - began

    began = time.perf_counter()
    (loaded,) = dask.compute(lazy)
    clock["compute"] = time.perf_counter() - began

    began = time.perf_counter()
    tables = {}
    for source_id, block in loaded.items():
        init = inits[source_id]
        raw = {name: block[name].values for name in block.data_vars}
        steps, ingested = step_seconds(init.lead_seconds), ingested_mask(init.lead_seconds, init.ingested_seconds)
        members = xr.Dataset(coords={"point_id": ("point", [p.point_id for p in points]), **block.coords})
        for variable in variables:
            values = evaluate(variable.derivations[source_id], raw, steps)
            members[variable.variable_id] = (CANONICAL, values.astype(np.float32))
            if variable.running_total:
                members[variable.running_total.variable_id] = (CANONICAL, running_total(values, ingested))
        summary = xr.Dataset(coords={"point_id": ("point", members.point_id.values), "lead_time": block.lead_time})
        for name, member_values in members.data_vars.items():
            array = member_values.values
            summary[f"{name}_mean"] = (CANONICAL[1:], array.mean(axis=0))
            summary[f"{name}_min"] = (CANONICAL[1:], array.min(axis=0))
            summary[f"{name}_max"] = (CANONICAL[1:], array.max(axis=0))
            for stat, value in zip(QUANTILES, np.quantile(array, list(QUANTILES.values()), axis=0), strict=True):
                summary[f"{name}_{stat}"] = (CANONICAL[1:], value)
        tables[source_id] = (members, summary)
    clock["derive"] = time.perf_counter() - began

    began = time.perf_counter()
    options = s3_storage_options() if args.out.startswith("s3://") else None
    rows = 0
    for source_id, (members, summary) in tables.items():
        for kind, dataset in (("members", members), ("summary", summary)):
            frame = dataset.drop_vars(["init_time", "spatial_ref", "valid_time"], errors="ignore").to_dataframe()
            frame.reset_index().to_parquet(f"{args.out}/{source_id}_{kind}.parquet", storage_options=options)
            rows += len(frame)
    clock["write"] = time.perf_counter() - began
    clock["total_in_process"] = time.perf_counter() - STARTED
    report = {name: round(seconds, 3) for name, seconds in clock.items()}
    print(json.dumps({"baseline": "xarray", "points": len(points), "rows": rows, "seconds": report}))


if __name__ == "__main__":
    main()
