"""The I/O floor of an extraction run: every chunk it needs, fetched and decoded once, all at once.

    python -m benchmarks.io_floor --store s3://bucket/store [--variables ...] [--concurrency 1024]

Plans the run exactly as ``forecast-panel extract`` does (``extraction.source_run.plan_source``:
the same init, points, map region and chunk tiles), then reads every inner chunk those tiles
cover, for every raw field, through zarr's async API on the pinned Icechunk snapshot, with ALL
requests in flight together: one ``asyncio.gather`` over one coordinate selection per (field,
shard) that names one cell in each needed inner chunk. zarr reads each shard's index once,
fetches the needed inner chunks' byte ranges (merging adjacent ones) and decodes each chunk
once. Nothing is derived; the values are dropped.

``--pipeline`` instead runs the pipeline's own tile jobs on the same plan (``extraction.executor``
with the scheduler ``forecast-panel extract`` would choose): its read + derive, to compare with
the floor (the cluster's start is timed apart).

Prints one JSON line: seconds for imports, planning (the pipeline's own), opening the arrays and
the fetch itself (the floor) or the tile jobs, with the chunk counts. GETs and bytes are counted by whoever serves
the requests (the benchmarks' proxy).
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
from collections import defaultdict  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import xarray  # noqa: E402, F401 (the pipeline's import cost, counted alike)
import zarr  # noqa: E402
import zarr.api.asynchronous  # noqa: E402

IMPORTED = time.perf_counter()

from extraction.selection import load_config, select  # noqa: E402
from extraction.source_run import SourcePlan, plan_source  # noqa: E402
from extraction.sources import icechunk_storage  # noqa: E402
from forecast_core.registry import IcechunkLocation  # noqa: E402
from forecast_core.store import ArtifactStore  # noqa: E402


class _Choice:
    """The ``select`` options of a whole run (every source, point)."""

    sources = None
    point_ids = None
    max_points = None

    def __init__(self, variables: list[str] | None):
        self.variables = variables


def plan_run(store_url: str, variables: list[str] | None) -> list[SourcePlan]:
    """The pipeline's plans for a full run of the store's config."""
    registry, catalogue, points = load_config(ArtifactStore(store_url))
    chosen = select(registry, catalogue, points, _Choice(variables))
    return [
        plan_source(source, chosen.variables, chosen.wanted, chosen.selected, chosen.enabled, registry.map_summary)
        for source in chosen.sources
    ]


def _fields(plan: SourcePlan) -> tuple[str, ...]:
    return plan.jobs[0].fields if plan.jobs else ()


def chunk_selections(plan: SourcePlan, array: Any) -> dict[tuple[int, ...], list[tuple[int, ...]]]:
    """Per shard of ``array``: one cell (a full index) in each inner chunk the plan's tiles need."""
    dims = list(array.metadata.dimension_names)
    inner = dict(zip(dims, array.chunks, strict=True))
    shard = dict(zip(dims, array.shards or array.chunks, strict=True))
    size = dict(zip(dims, array.shape, strict=True))
    by_shard: dict[tuple[int, ...], list[tuple[int, ...]]] = defaultdict(list)
    for job in plan.jobs:
        starts = {"init_time": [job.init_index], "latitude": [job.lat_start], "longitude": [job.lon_start]}
        axes = [starts.get(dim, list(range(0, size[dim], inner[dim]))) for dim in dims]
        for cell in np.array(np.meshgrid(*axes, indexing="ij")).reshape(len(dims), -1).T:
            index = tuple(int(i) for i in cell)
            by_shard[tuple(i // shard[d] for i, d in zip(index, dims, strict=True))].append(index)
    return by_shard


async def _open_arrays(plans: list[SourcePlan]) -> list[tuple[SourcePlan, Any]]:
    import icechunk

    async def one(plan: SourcePlan, name: str) -> tuple[SourcePlan, Any]:
        location = plan.source.location
        if not isinstance(location, IcechunkLocation) or not location.snapshot_id:
            raise SystemExit(f"{plan.source.source_id}: the floor reads pinned Icechunk sources only")
        repo = await icechunk.Repository.open_async(icechunk_storage(location))
        session = await repo.readonly_session_async(snapshot_id=location.snapshot_id)
        return plan, await zarr.api.asynchronous.open_array(store=session.store, path=name, mode="r")

    return list(await asyncio.gather(*(one(plan, name) for plan in plans for name in _fields(plan))))


async def _fetch(arrays: list[tuple[SourcePlan, Any]]) -> tuple[int, int, int]:
    """Every needed inner chunk of every array, all selections in flight together."""
    reads = []
    chunks = shards = 0
    for plan, array in arrays:
        for cells in chunk_selections(plan, array).values():
            coordinates = tuple(np.asarray(axis) for axis in zip(*cells, strict=True))
            reads.append(array.get_coordinate_selection(coordinates))
            chunks += len(cells)
            shards += 1
    decoded = await asyncio.gather(*reads)
    return chunks, shards, sum(np.asarray(values).size for values in decoded)


async def _open_and_fetch(plans: list[SourcePlan], clock: dict[str, float]) -> tuple[int, int, int, int]:
    began = time.perf_counter()
    arrays = await _open_arrays(plans)
    clock["open"] = time.perf_counter() - began
    began = time.perf_counter()
    chunks, shards, cells = await _fetch(arrays)
    clock["fetch"] = time.perf_counter() - began
    return chunks, shards, cells, len(arrays)


def pipeline_reads(plans: list[SourcePlan], clock: dict[str, float]) -> dict[str, object]:
    """The pipeline's tile jobs (read + derive) on ``plans``, as ``extract`` schedules them."""
    from extraction.executor import dask_client, execute_groups, resolve_scheduler

    jobs = [job for plan in plans for job in plan.jobs]
    scheduler = resolve_scheduler(None)
    began = time.perf_counter()
    with dask_client(scheduler) as client:
        clock["cluster_start"] = time.perf_counter() - began
        began = time.perf_counter()
        outcomes = [outcome for group in execute_groups([plan.jobs for plan in plans], client) for outcome in group]
        clock["read_derive"] = time.perf_counter() - began
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if failures:
        raise SystemExit(f"{len(failures)} tile jobs failed: {failures[0]!r}")
    return {"pipeline": scheduler, "tiles": len(jobs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True)
    parser.add_argument("--variables", nargs="+")
    parser.add_argument("--concurrency", type=int, default=1024, help="zarr's async.concurrency (per selection)")
    parser.add_argument("--pipeline", action="store_true", help="time the pipeline's tile jobs instead")
    args = parser.parse_args()
    clock = {"imports": IMPORTED - STARTED}
    began = time.perf_counter()
    plans = plan_run(args.store, args.variables)
    clock["plan"] = time.perf_counter() - began
    if args.pipeline:
        report = pipeline_reads(plans, clock)
        print(json.dumps({**report, "seconds": {name: round(value, 3) for name, value in clock.items()}}))
        return
    zarr.config.set({"async.concurrency": args.concurrency})
    chunks, shards, cells, arrays = asyncio.run(_open_and_fetch(plans, clock))
    report = {
        "floor": "concurrent",
        "inner_chunks": chunks,
        "shard_indexes": shards,
        "arrays": arrays,
        "tiles": sum(len(plan.jobs) for plan in plans),
        "seconds": {name: round(seconds, 3) for name, seconds in clock.items()},
    }
    assert cells == chunks, (cells, chunks)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
