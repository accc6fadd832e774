"""Extraction benchmark on sample stores served by a moto S3 server; prints one JSON document.

    .venv/bin/python -m benchmarks.bench_extraction [--points 200] [--scale 100 1000] [--size demo]

Measures, for 2 sources × 4 canonical variables (temperature_2m, precipitation, snowfall,
wind_speed_10m) on the newest init of Icechunk sample sources in a moto bucket:

- ``pipeline``: plan + read + derive (the tile jobs, in-process) and a whole ``run_extraction``
  (also building and publishing the Parquet artifacts to an S3 store on the same server);
- ``naive``: ``ds[field].isel(init).sel(lat, lon, method="nearest").load()`` per point and raw
  field, the pattern in dynamical.org's notebooks;
- ``floor``: fetching and decoding every needed chunk tile once straight through zarr, no
  derivation: the I/O floor of the pipeline's reads;
- ``gets``: S3 GETs of chunk objects made by the pipeline's reads (moto's request recorder)
  against the inner chunks needed plus one shard-index read per shard touched;
- ``scale``: whole-run time at 100 and 1 000 points in the same region;
- ``bytes_per_point``: points + ensemble_summary bytes per point per (source, variable, init).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "ICECHUNK_LOG": "error",
    }
)

VARIABLES = ["temperature_2m", "precipitation", "snowfall", "wind_speed_10m"]
NEWEST = date(2026, 11, 24)
SIZE = ["demo"]


def _timed[T](action: Callable[[], T], repeat: int = 1) -> tuple[float, T]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - started)
    assert result is not None
    return best, result


def _points(count: int, seed: int) -> Any:
    from extraction.sample_sources.writer import TINY_REGION, US_ROCKIES
    from forecast_core.points import Point, PreCannedPoints

    region = TINY_REGION if SIZE[0] == "tiny" else US_ROCKIES
    rng = np.random.default_rng(seed)
    lat = rng.uniform(region.south + 0.1, region.north - 0.1, count)
    lon = rng.uniform(region.west + 0.1, region.east - 0.1, count)
    when = datetime(2026, 11, 20, tzinfo=UTC)
    return PreCannedPoints(
        generated_utc=when,
        points=[
            Point(point_id=f"p{i:04d}", point_name=f"Point {i}", latitude=float(a), longitude=float(o),
                  created_by="bench", created_utc=when, updated_utc=when)
            for i, (a, o) in enumerate(zip(lat, lon, strict=True))
        ],
    )  # fmt: skip


def _plans(registry: Any, points: Any) -> list[Any]:
    from extraction.source_run import plan_source
    from forecast_core import defaults

    variables = [v for v in defaults.canonical_variables().variables if v.variable_id in VARIABLES]
    return [
        plan_source(source, variables, set(VARIABLES), points.points, points.points, registry.map_summary)
        for source in registry.sources
    ]


def _pipeline_core(registry: Any, points: Any) -> int:
    from extraction.executor import execute

    jobs = [job for plan in _plans(registry, points) for job in plan.jobs]
    outcomes = execute(jobs, None, progress=False)
    assert not any(isinstance(outcome, BaseException) for outcome in outcomes), outcomes
    return len(jobs)


def _naive(registry: Any, points: Any) -> int:
    from extraction.plan import choose_init
    from extraction.sources import open_source
    from forecast_core import defaults
    from forecast_core.registry import node_fields

    loads = 0
    for source in registry.sources:
        ds = open_source(source)
        init = choose_init(ds).index
        fields: list[str] = []
        for variable in defaults.canonical_variables().variables:
            if variable.variable_id in VARIABLES:
                fields += node_fields(variable.derivations[source.source_id])
        for point in points.points:
            for name in fields:  # per point and variable, as a notebook loop would
                ds[name].isel(init_time=init).sel(
                    latitude=point.latitude, longitude=point.longitude, method="nearest"
                ).load()
                loads += 1
    return loads


def _floor(registry: Any, points: Any) -> dict[str, int]:
    """Read every needed tile of every needed field once with zarr; returns chunk counts."""
    import icechunk
    import zarr

    from extraction.sources import _icechunk_storage

    inner = shards = 0
    for plan in _plans(registry, points):
        session = icechunk.Repository.open(_icechunk_storage(plan.source.location)).readonly_session(
            snapshot_id=plan.snapshot_id
        )
        group = zarr.open_group(session.store, mode="r")
        for name in plan.jobs[0].fields:
            array = group[name]
            assert isinstance(array, zarr.Array)
            dims = [str(d) for d in getattr(array.metadata, "dimension_names", None) or []]
            shard_keys: set[tuple[int, ...]] = set()
            for job in plan.jobs:
                selection: list[Any] = [job.init_index, slice(None), slice(None)]
                selection += [slice(job.lat_start, job.lat_stop), slice(job.lon_start, job.lon_stop)]
                array[tuple(selection)]
                chunk_shape = array.chunks  # inner chunks
                lead_axis = dims.index("lead_time")
                inner += -(-array.shape[lead_axis] // chunk_shape[lead_axis])
                shard = array.shards or array.chunks
                shard_keys.add((job.lat_start // shard[dims.index("latitude")], job.lon_start // shard[-1]))
            shards += len(shard_keys)
    return {"inner_chunks": inner, "shard_indexes": shards}


def _chunk_gets(endpoint: str, action: Callable[[], Any], recording: Path) -> int:
    def call(path: str) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}{path}", method="POST"), timeout=30).close()

    call("/moto-api/recorder/reset-recording")
    call("/moto-api/recorder/start-recording")
    try:
        action()
    finally:
        call("/moto-api/recorder/stop-recording")
    entries = [json.loads(line) for line in recording.read_text().splitlines() if line.strip()]
    return sum(1 for e in entries if e["method"] == "GET" and "/chunks/" in e["url"] and "/sources/" in e["url"])


def _run(store: Any, force: bool = True) -> Any:
    from extraction.pipeline import RunOptions, run_extraction

    with contextlib.redirect_stdout(io.StringIO()):  # the run's EMF line: keep stdout pure JSON
        report = run_extraction(
            RunOptions(store=store, scheduler="synchronous", variables=VARIABLES, force=force, progress=False)
        )
    assert report.outcome == "success", report.errors[:3]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--scale", type=int, nargs=2, default=[100, 1000])
    parser.add_argument("--size", choices=["demo", "tiny"], default="demo")
    parser.add_argument("--naive-points", type=int, help="time the naive loop on fewer points and scale up")
    args = parser.parse_args()
    SIZE[0] = args.size

    recording = Path(tempfile.mkdtemp()) / "moto-recording.jsonl"
    os.environ["MOTO_RECORDER_FILEPATH"] = str(recording)
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on stderr

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    import boto3

    from extraction.sample_sources.cli import write_samples
    from forecast_core.init_store import init_store
    from forecast_core.store import ArtifactStore

    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    samples = write_samples(f"s3://{bucket}/sources", size=args.size, newest_init=NEWEST)
    registry = samples.registry
    load_before = os.getloadavg()
    result: dict[str, Any] = {"sources": [s.source_id for s in registry.sources], "variables": VARIABLES}
    result["size"] = args.size

    points = _points(args.points, seed=1)
    store = ArtifactStore(f"s3://{bucket}/store-{args.points}")
    init_store(store, registry, points=points, reset_points=True)
    _run(store)  # warm-up: imports, first metadata reads
    core_s, tiles = _timed(lambda: _pipeline_core(registry, points), repeat=2)
    run_s, report = _timed(lambda: _run(store), repeat=2)
    floor_s, chunks = _timed(lambda: _floor(registry, points), repeat=2)
    naive_points = _points(args.naive_points, seed=1) if args.naive_points else points
    naive_s, loads = _timed(lambda: _naive(registry, naive_points))
    naive_scaled = naive_s * args.points / len(naive_points.points)
    gets = _chunk_gets(endpoint, lambda: _pipeline_core(registry, points), recording)
    result["points"] = args.points
    result["pipeline"] = {"read_derive_seconds": round(core_s, 3), "tiles": tiles, "run_seconds": round(run_s, 3)}
    result["naive"] = {"seconds": round(naive_scaled, 3), "loads": loads, "timed_points": len(naive_points.points)}
    result["speedup_vs_naive"] = {
        "read_derive": round(naive_scaled / core_s, 1),
        "whole_run": round(naive_scaled / run_s, 1),
    }
    result["floor"] = {"seconds": round(floor_s, 3), **chunks, "pipeline_over_floor": round(core_s / floor_s, 2)}
    result["gets"] = {"chunk_object_gets": gets, "needed": chunks["inner_chunks"] + chunks["shard_indexes"]}

    scale: dict[str, float] = {}
    sizes: dict[str, float] = {}
    for count in args.scale:
        many = _points(count, seed=2)
        scale_store = ArtifactStore(f"s3://{bucket}/store-scale-{count}")
        init_store(scale_store, registry, points=many, reset_points=True)
        seconds, scaled_report = _timed(lambda s=scale_store: _run(s), repeat=2)  # type: ignore[misc]
        scale[str(count)] = round(seconds, 3)
        series = [a for a in scaled_report.manifest.artifacts if a.kind in ("points", "ensemble_summary")]
        pairs = len({(a.source_id, a.variable_id, a.init_date) for a in series})
        sizes[str(count)] = round(sum(a.size_bytes for a in series) / (count * pairs), 1)
        maps = [a for a in scaled_report.manifest.artifacts if a.kind == "map_summary"]
        sizes[f"map_summary_bytes_{count}"] = round(sum(a.size_bytes for a in maps) / max(len(maps), 1), 1)
    result["scale_seconds"] = scale
    result["scale_ratio"] = round(scale[str(args.scale[1])] / scale[str(args.scale[0])], 2)
    result["bytes_per_point_per_series"] = sizes
    result["artifacts_200"] = len(report.manifest.artifacts)
    result["loadavg_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    result["cpu_count"] = os.cpu_count()
    server.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
