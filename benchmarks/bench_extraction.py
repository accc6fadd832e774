"""Extraction benchmark: whole processes side by side over an S3 endpoint with latency; prints JSON.

    .venv/bin/python -m benchmarks.bench_extraction [--points 200 1000] [--repeats 3]
        [--latency-ms 30] [--bandwidth-mbps MBPS] [--size demo] [--loop-points 10]

Writes the sample sources (``--size demo``: US Rockies, the real templates' chunking) into a moto
server running in its own process (``benchmarks.moto_logged``, which logs every request), puts
``forecast_smoke.s3_proxy`` in front of it (another process: ``--latency-ms`` per request,
optional bandwidth cap per response), and for each point count seeds a store with that many
points (uniform over the region, seeded) and runs, interleaved, ``--repeats`` times each:

- ``imports``: ``python -c "import xarray, icechunk, dask"`` — the unavoidable import floor;
- ``extract``: ``forecast-panel extract --force --no-progress`` (the CLI's own scheduler choice),
  with its step log (planned / read_and_built / published) read from the run log it wrote;
- ``baseline_xarray``: ``benchmarks.baseline_xarray`` (vectorised xarray + dask, the primary baseline);
- ``floor``: ``benchmarks.io_floor`` (every needed chunk fetched and decoded once, all in flight);
- ``pipeline_reads``: ``benchmarks.io_floor --pipeline`` (the pipeline's tile jobs: read + derive);
- ``baseline_loop`` (first repeat only): ``benchmarks.baseline_loop --limit N`` (per point, scaled).

Every process reads its modules' compiled bytecode from a cache warmed by an untimed pass
(``--bytecode cached``, the default: as the production image, which compiles at install);
``--bytecode source`` makes each process compile its imports from source instead, the condition
of the runs in docs/performance.md before 2026-11-30's phase-2 follow-up.

Per process: wall time (spawn to exit), peak RSS (``wait4``; the largest child sampled apart),
and the requests the server saw meanwhile: chunk GETs and bytes, other GETs, PUTs, most in
flight at once. Figures are medians over the repeats (every value is listed too), with the load
average before and after: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import extraction_env as env
from benchmarks.moto_logged import RequestLog, summarise

GOALS = {
    "speedup_vs_xarray_200": 2.5,
    "speedup_vs_xarray_1000": 5.0,
    "extract_over_imports_plus_floor_200": 1.5,
    "read_derive_over_floor": 1.3,
}
FORECAST_PANEL = str(Path(sys.executable).with_name("forecast-panel"))


def _commands(store: str, bucket: str, loop_points: int) -> dict[str, list[str]]:
    python = env.PYTHON
    return {
        "imports": [python, "-c", "import xarray, icechunk, dask"],
        "extract": [FORECAST_PANEL, "extract", "--store", store, "--force", "--no-progress"],
        "baseline_xarray": [python, "-m", "benchmarks.baseline_xarray", "--store", store, "--out", f"s3://{bucket}/xr"],
        "floor": [python, "-m", "benchmarks.io_floor", "--store", store],
        "pipeline_reads": [python, "-m", "benchmarks.io_floor", "--store", store, "--pipeline"],
        "baseline_loop": [python, "-m", "benchmarks.baseline_loop", "--store", store, "--limit", str(loop_points)],
    }


def _step_log(run: env.ProcessRun, store: str) -> dict[str, Any]:
    """The run's ``published`` event seconds, from the run log the extraction wrote."""
    from forecast_core.layout import extraction_log_key
    from forecast_core.store import ArtifactStore

    found = re.search(r"run (\d{8}T\d{6}Z)", run.stderr)
    if not found:
        return {}
    lines = ArtifactStore(store).read_bytes(extraction_log_key(found[1])).decode().splitlines()
    events = {record["event"]: record for record in map(json.loads, lines)}
    steps: dict[str, Any] = events.get("published", {}).get("seconds", {})
    planned = [record for record in map(json.loads, lines) if record["event"] == "planned"]
    finished = events.get("finished", {})
    errors = Counter(str(error.get("kind")) for error in finished.get("errors") or [])
    return {**steps, "tiles": sum(int(record.get("tiles", 0)) for record in planned), "run": found[1],
            "outcome": finished.get("outcome"), "errors_by_kind": dict(sorted(errors.items()))}  # fmt: skip


def measure(name: str, argv: list[str], endpoint: str, requests: RequestLog, latency: float) -> dict[str, Any]:
    mark = requests.mark()
    run = env.run_process(argv, env.aws_env(endpoint)).check()
    record: dict[str, Any] = {
        "seconds": round(run.seconds, 3),
        "peak_rss_mb": env.mb(run.peak_rss_bytes),
        "children_peak_rss_mb": env.mb(run.children_peak_rss_bytes),
        "requests": summarise(requests.since(mark), latency),
    }
    if name not in ("imports", "extract"):
        record["report"] = run.json()
    if name == "extract":
        record["steps"] = _step_log(run, argv[argv.index("--store") + 1])
    return record


def _median(runs: list[dict[str, Any]], *path: str) -> float:
    values = []
    for run in runs:
        value: Any = run
        for key in path:
            value = value[key]
        values.append(float(value))
    return round(statistics.median(values), 3)


def summary(runs: dict[str, list[dict[str, Any]]], count: int) -> dict[str, Any]:
    """Medians and the ratios the issue sets goals for."""
    extract = _median(runs["extract"], "seconds")
    floor_fetch = _median(runs["floor"], "report", "seconds", "fetch")
    imports = _median(runs["imports"], "seconds")
    read_derive = _median(runs["pipeline_reads"], "report", "seconds", "read_derive")
    floor_report = runs["floor"][0]["report"]
    result: dict[str, Any] = {
        "points": count,
        "median_seconds": {name: _median(items, "seconds") for name, items in runs.items()},
        "extract_steps_median": {
            step: _median(runs["extract"], "steps", step) for step in ("planned", "read_and_built", "published")
        },
        "floor_fetch_seconds": floor_fetch,
        "pipeline_read_derive_seconds": read_derive,
        "speedup_vs_xarray": round(_median(runs["baseline_xarray"], "seconds") / extract, 2),
        "extract_over_imports_plus_floor": round(extract / (imports + floor_fetch), 2),
        "read_derive_over_floor": round(read_derive / floor_fetch, 2),
        "chunks_needed": {
            "inner_chunks": floor_report["inner_chunks"],
            "shard_indexes": floor_report["shard_indexes"],
            "tiles": floor_report["tiles"],
        },
        "chunk_gets": {name: items[0]["requests"]["chunk_gets"] for name, items in runs.items()},
        "chunk_bytes_mb": {name: env.mb(items[0]["requests"]["chunk_bytes"]) for name, items in runs.items()},
        "max_chunk_gets_in_flight": {
            name: items[0]["requests"]["max_chunk_gets_in_flight"] for name, items in runs.items()
        },
        "peak_rss_mb": {name: max(item["peak_rss_mb"] for item in items) for name, items in runs.items()},
    }
    if "baseline_loop" in runs:
        result["baseline_loop_scaled_seconds"] = runs["baseline_loop"][0]["report"]["scaled_seconds"]
    return result


def _warm_up(store: str, bucket: str, registry: Any, region: Any, endpoint: str) -> None:
    """Run every command once, untimed, on a store of its own with 10 points: fills the
    bytecode cache (the same imports as the timed runs) without touching the timed stores."""
    env.seed_store(store, registry, env.region_points(10, region, seed=2))
    for name, argv in _commands(store, bucket, 10).items():
        if name != "baseline_loop":
            env.run_process(argv, env.aws_env(endpoint)).check()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--bandwidth-mbps", type=float)
    parser.add_argument("--size", choices=["demo", "tiny"], default="demo")
    parser.add_argument("--loop-points", type=int, default=10, help="points the per-point loop is timed on (0: skip)")
    parser.add_argument(
        "--bytecode",
        choices=["cached", "source"],
        default="cached",
        help="cached: processes read compiled bytecode (cache warmed untimed first), as the production image; "
        "source: every process compiles its imports from source (extraction_env.use_bytecode)",
    )
    args = parser.parse_args()
    from extraction.sample_sources.cli import write_samples
    from extraction.sample_sources.writer import TINY_REGION, US_ROCKIES

    region = TINY_REGION if args.size == "tiny" else US_ROCKIES
    result: dict[str, Any] = {
        "benchmark": "extraction",
        "size": args.size,
        "latency_ms": args.latency_ms,
        "bandwidth_mbps": args.bandwidth_mbps,
        "repeats": args.repeats,
        "bytecode": args.bytecode,
        "by_points": {},
    }
    with tempfile.TemporaryDirectory() as folder, env.moto_server(Path(folder) / "requests.jsonl") as moto:
        env.use_bytecode(args.bytecode, Path(folder) / "pycache")
        os.environ.update({**env.FAKE_AWS, "AWS_ENDPOINT_URL": moto.url})  # set-up goes to moto directly
        bucket = env.create_bucket(moto.url)
        samples = write_samples(f"s3://{bucket}/sources", size=args.size, newest_init=env.NEWEST_INIT,
                                endpoint_url=moto.url)  # fmt: skip
        registry = env.unpinned_registry(samples.registry)
        requests = RequestLog(Path(folder) / "requests.jsonl")
        with env.latency_proxy(moto.url, args.latency_ms, args.bandwidth_mbps) as proxy:
            if args.bytecode == "cached":
                _warm_up(f"s3://{bucket}/store-warm-up", bucket, registry, region, proxy.url)
            for count in args.points:
                store = f"s3://{bucket}/store-{count}"
                env.seed_store(store, registry, env.region_points(count, region, seed=1))
                commands = _commands(store, bucket, args.loop_points)
                load_before = env.load_average()
                runs: dict[str, list[dict[str, Any]]] = {}
                for repeat in range(args.repeats):
                    for name, argv in commands.items():
                        if name == "baseline_loop" and (repeat or not args.loop_points):
                            continue
                        record = measure(name, argv, proxy.url, requests, args.latency_ms / 1000)
                        runs.setdefault(name, []).append(record)
                entry = summary(runs, count)
                entry["load_average_before_after"] = [load_before, env.load_average()]
                entry["runs"] = runs
                result["by_points"][str(count)] = entry
    result["goals"] = GOALS
    result["cpu_count"] = os.cpu_count()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
