"""Production-scale extraction, simulated: real chunking, points worldwide, a real Dask cluster; JSON.

    .venv/bin/python -m benchmarks.bench_extraction_scale [--points 1000] [--latency-ms 30]
        [--bandwidth-mbps 400] [--workers 1 2 4] [--no-floor] [--no-auto]

Points: ``--points`` cities scattered over the world's land (``extraction_env.world_points``:
the most populous GeoNames city of random 2° boxes). Sources: one Icechunk repository per
dataset with the real templates' full grid, shards and inner chunks (GEFS 31 × 64 × 17 × 16,
IFS ENS 85 × 51 × 32 × 32 float32) and one complete init, with synthetic values written only in
the chunk tiles that hold a point (``extraction.sample_sources.tiles_store``), in a moto server
of its own process, read through ``forecast_smoke.s3_proxy`` (``--latency-ms`` per request, each
response capped at ``--bandwidth-mbps``). The store's registry turns the map summary off (a map
box around points worldwide is the whole globe: more cells than ``max_cells`` allows).

Runs, each a whole process: ``forecast-panel extract --force`` with its own scheduler choice
(``auto``), the concurrent I/O floor (``benchmarks.io_floor``), then ``extract --scheduler
tcp://…`` on a cluster of separate ``dask scheduler`` / ``dask worker`` processes (1 thread
each) for each ``--workers`` count. Per run: wall time, step log, chunk GETs and bytes per
source, requests in flight, peak RSS of the client and of each worker, the CPU seconds the moto
server and the proxy spent meanwhile (they share the machine's cores), and a fingerprint of the
published artifacts (every cluster size must publish the same bytes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import extraction_env as env
from benchmarks.bench_extraction import FORECAST_PANEL, _step_log
from benchmarks.moto_logged import Request, RequestLog, summarise


def _write_sources(bucket: str, endpoint: str, points: Any, source_ids: list[str]) -> tuple[Any, dict[str, Any]]:
    """One tiles-only Icechunk repository per dataset; the registry and what was written."""
    from extraction.sample_sources.cli import SOURCE_COLORS
    from extraction.sample_sources.templates import DATASETS
    from extraction.sample_sources.tiles_store import fields_needed, tiles_for_points, write_tile_store
    from forecast_core.registry import IcechunkLocation, MapSummarySettings, SourceEntry, SourceRegistry

    locations = [(p.latitude, p.longitude) for p in points.points]
    entries, written = [], {}
    for dataset_id, facts in DATASETS.items():
        if facts.source_id not in source_ids:
            continue
        started = time.perf_counter()
        tiles = {name: tiles_for_points(dataset_id, name, locations) for name in fields_needed(facts.source_id)}
        url = f"s3://{bucket}/sources/{dataset_id}.icechunk"
        write_tile_store(url, facts, tiles, env.NEWEST_INIT, endpoint_url=endpoint)
        written[facts.source_id] = {
            "dataset_id": dataset_id,
            "fields": sorted(tiles),
            "tiles": len(next(iter(tiles.values()))),
            "write_seconds": round(time.perf_counter() - started, 1),
        }
        entries.append(SourceEntry(source_id=facts.source_id, display_name=facts.display_name, dataset_id=dataset_id,
                                   location=IcechunkLocation(url=url, anonymous=False),
                                   color=SOURCE_COLORS[facts.source_id]))  # fmt: skip
    maps_off = MapSummarySettings(lead_hours=[], max_cells=721 * 1440)
    return SourceRegistry(sources=entries, map_summary=maps_off), written


def _per_source(requests: list[Request], written: dict[str, Any], latency: float) -> dict[str, Any]:
    return {
        source_id: summarise([r for r in requests if info["dataset_id"] in r.path], latency)
        for source_id, info in written.items()
    }


def _fingerprint(store: str) -> dict[str, tuple[str, str]]:
    """Each published artifact of the run in force: "source/variable/kind" -> (sha256, key)."""
    from forecast_core.layout import LATEST_MANIFEST_KEY
    from forecast_core.status import RunManifest
    from forecast_core.store import ArtifactStore

    manifest = ArtifactStore(store).read_model(LATEST_MANIFEST_KEY, RunManifest)
    return {f"{a.source_id}/{a.variable_id}/{a.kind}": (a.sha256, a.key) for a in manifest.artifacts}


def _compare_published(store: str, published: list[dict[str, tuple[str, str]]]) -> dict[str, Any]:
    """Whether every run published the same bytes; for each artifact that differs, whether its
    tables are equal all the same (then only the files' layout differs)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from forecast_core.store import ArtifactStore

    artifacts = ArtifactStore(store)
    differing = []
    for name in sorted(set().union(*published)):
        versions = [run.get(name) for run in published]
        if all(version == versions[0] for version in versions):
            continue
        tables = [pq.read_table(pa.BufferReader(artifacts.read_bytes(v[1]))) if v else None for v in versions]
        equal = all(t is not None and tables[0] is not None and t.equals(tables[0]) for t in tables)
        differing.append({"artifact": name, "sha256": [v[0] if v else None for v in versions], "tables_equal": equal})
    return {"identical_published_data": not differing, "differing_artifacts": differing}


class _ServerCpu:
    """CPU seconds the moto server and the proxy spend between ``start`` and ``seconds``."""

    def __init__(self, *pids: int):
        import psutil

        self.processes = [psutil.Process(pid) for pid in pids]
        self.before = 0.0

    def _total(self) -> float:
        return sum(sum(p.cpu_times()[:2]) for p in self.processes)

    def start(self) -> None:
        self.before = self._total()

    def seconds(self) -> float:
        return round(self._total() - self.before, 1)


def _run(name: str, argv: list[str], endpoint: str, requests: RequestLog, latency: float, written: dict[str, Any],
         cpu: _ServerCpu) -> dict[str, Any]:  # fmt: skip
    mark = requests.mark()
    cpu.start()
    load = env.load_average()
    run = env.run_process(argv, env.aws_env(endpoint)).check()
    seen = requests.since(mark)
    record: dict[str, Any] = {
        "run": name,
        "seconds": round(run.seconds, 2),
        "peak_rss_mb": env.mb(run.peak_rss_bytes),
        "largest_child_peak_rss_mb": env.mb(run.children_peak_rss_bytes),
        "server_and_proxy_cpu_seconds": cpu.seconds(),
        "load_average_before_after": [load, env.load_average()],
        "requests": summarise(seen, latency),
        "per_source": _per_source(seen, written, latency),
    }
    if argv[0] == FORECAST_PANEL:
        record["steps"] = _step_log(run, argv[argv.index("--store") + 1])
    else:
        record["report"] = run.json()
    print(json.dumps(record), file=sys.stderr, flush=True)  # progress: each run as it ends
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--bandwidth-mbps", type=float, default=400.0)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--floor-concurrency", type=int, default=64, help="zarr async.concurrency of the floor")
    parser.add_argument("--sources", nargs="+", default=["gefs", "ecmwf_ifs_ens"], help="source ids to write and read")
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument("--no-auto", action="store_true", help="skip the run with extract's own scheduler choice")
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    result: dict[str, Any] = {
        "benchmark": "extraction_scale",
        "points": args.points,
        "latency_ms": args.latency_ms,
        "bandwidth_mbps_per_response": args.bandwidth_mbps,
        "cpu_count": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory() as folder, env.moto_server(Path(folder) / "requests.jsonl") as moto:
        os.environ.update({**env.FAKE_AWS, "AWS_ENDPOINT_URL": moto.url})
        bucket = env.create_bucket(moto.url)
        points = env.world_points(args.points, seed=7)
        started = time.perf_counter()
        registry, written = _write_sources(bucket, moto.url, points, args.sources)
        result["sources"] = written
        print(json.dumps(written), file=sys.stderr, flush=True)
        result["setup_seconds"] = round(time.perf_counter() - started, 1)
        store = f"s3://{bucket}/store"
        env.seed_store(store, registry, points)
        requests = RequestLog(Path(folder) / "requests.jsonl")
        runs: list[dict[str, Any]] = []
        with env.latency_proxy(moto.url, args.latency_ms, args.bandwidth_mbps) as proxy:
            cpu = _ServerCpu(moto.process.pid, proxy.process.pid)
            extract = [FORECAST_PANEL, "extract", "--store", store, "--force", "--no-progress"]
            if not args.no_auto:
                runs.append(_run("extract_auto", extract, proxy.url, requests, latency, written, cpu))
                runs[-1]["published"] = _fingerprint(store)
            if not args.no_floor:
                floor = [env.PYTHON, "-m", "benchmarks.io_floor", "--store", store,
                         "--concurrency", str(args.floor_concurrency)]  # fmt: skip
                runs.append(_run("floor", floor, proxy.url, requests, latency, written, cpu))
            for count in args.workers:
                with env.dask_cluster(count, env.aws_env(proxy.url)) as cluster:
                    name = f"cluster_{count}_workers"
                    argv = [*extract, "--scheduler", cluster.address]
                    runs.append(_run(name, argv, proxy.url, requests, latency, written, cpu))
                    runs[-1]["worker_peak_rss_mb"] = sorted(env.mb(peak) for peak in cluster.peaks.values())
                runs[-1]["published"] = _fingerprint(store)
        result.update(_compare_published(store, [run.pop("published") for run in runs if "published" in run]))
    result["runs"] = runs
    clusters = {run["run"]: run["seconds"] for run in runs if run["run"].startswith("cluster_")}
    if "cluster_1_workers" in clusters and "cluster_2_workers" in clusters:
        result["speedup_1_to_2_workers"] = round(clusters["cluster_1_workers"] / clusters["cluster_2_workers"], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
