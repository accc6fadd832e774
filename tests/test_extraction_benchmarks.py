"""The extraction benchmarks still run: each script once on tiny data (figures are not checked).

The benchmarks themselves are never part of the suite's runtime; these runs are a few seconds
of tiny inputs so that the scripts cannot rot unnoticed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from benchmarks import extraction_env as env
from benchmarks.moto_logged import RequestLog, summarise

ROOT = Path(__file__).resolve().parent.parent


def _run_json(*argv: str, timeout: float = 900) -> dict:
    """Run a harness in its own process group; on timeout the whole group goes (its servers,
    cluster and benchmarked processes too), not only the harness."""
    harness = subprocess.Popen([sys.executable, "-m", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        out, err = harness.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(harness.pid, signal.SIGKILL)
        harness.communicate()
        raise
    assert harness.returncode == 0, err[-3000:]
    return json.loads(out)


@pytest.mark.aws
def test_logged_moto_serves_exact_ranges_and_logs_each_request(tmp_path: Path) -> None:
    import boto3

    log = tmp_path / "requests.jsonl"
    payload = np.random.default_rng(0).bytes(300_000)
    with env.moto_server(log) as moto:
        s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")  # fmt: skip
        s3.create_bucket(Bucket="bench-ranges")
        where = {"Bucket": "bench-ranges", "Key": "repo/chunks/ABC"}
        s3.put_object(**where, Body=payload)
        mark = RequestLog(log).mark()
        ranged = s3.get_object(**where, Range="bytes=1000-70999")
        suffix = s3.get_object(**where, Range="bytes=-500")
        whole = s3.get_object(**where)
        assert ranged["Body"].read() == payload[1000:71000]
        assert ranged["ContentRange"] == f"bytes 1000-70999/{len(payload)}"
        assert suffix["Body"].read() == payload[-500:]
        assert whole["Body"].read() == payload
        past_end = s3.get_object(**where, Range=f"bytes=299990-{len(payload) + 50}")
        assert past_end["Body"].read() == payload[299990:]
        seen = RequestLog(log).since(mark)
    figures = summarise(seen)
    assert figures["chunk_gets"] == 4
    assert figures["chunk_bytes"] == 70_000 + 500 + len(payload) + 10
    assert all(request.end >= request.start for request in seen)


def test_tile_store_holds_data_in_the_points_tiles_only(tmp_path: Path) -> None:
    import icechunk
    import xarray as xr

    from extraction.sample_sources.templates import DATASETS, GEFS_DATASET_ID, array_metadata
    from extraction.sample_sources.tiles_store import tiles_for_points, write_tile_store

    places = [(39.6, -106.3), (-33.9, 151.2)]
    tiles = tiles_for_points(GEFS_DATASET_ID, "temperature_2m", places)
    assert len(tiles) == 2
    write_tile_store(str(tmp_path / "gefs"), DATASETS[GEFS_DATASET_ID], {"temperature_2m": tiles}, date(2026, 11, 24),
                     template_tiles=1)  # fmt: skip
    session = icechunk.Repository.open(icechunk.local_filesystem_storage(str(tmp_path / "gefs"))).readonly_session(
        branch="main"
    )
    ds = xr.open_zarr(session.store, consolidated=False, chunks=None)
    field = ds["temperature_2m"].isel(init_time=0)
    for latitude, longitude in places:
        values = field.sel(latitude=latitude, longitude=longitude, method="nearest").values
        assert values.shape == (31, 181) and np.isfinite(values).all()
    assert np.isnan(field.sel(latitude=0.0, longitude=0.0, method="nearest").values).all()
    template = array_metadata(GEFS_DATASET_ID)["temperature_2m"]
    assert ds["temperature_2m"].encoding["chunks"] == tuple(template["codecs"][0]["configuration"]["chunk_shape"])
    assert ds["temperature_2m"].encoding["shards"] == tuple(template["chunk_grid"]["configuration"]["chunk_shape"])


@pytest.mark.aws
def test_bench_extraction_runs_every_process_on_tiny_samples() -> None:
    report = _run_json("benchmarks.bench_extraction", "--size", "tiny", "--points", "5", "--repeats", "1",
                       "--loop-points", "1", "--latency-ms", "5")  # fmt: skip
    assert report["bytecode"] == "cached"  # warmed by an untimed pass on a store of its own
    entry = report["by_points"]["5"]
    assert set(entry["median_seconds"]) == {"imports", "extract", "baseline_xarray", "floor", "pipeline_reads",
                                            "baseline_loop"}  # fmt: skip
    assert entry["chunks_needed"]["inner_chunks"] > 0
    for name in ("extract", "baseline_xarray", "floor", "pipeline_reads"):
        assert entry["chunk_gets"][name] > 0, name
    assert entry["extract_steps_median"]["read_and_built"] > 0
    assert entry["runs"]["baseline_xarray"][0]["report"]["rows"] > 0


@pytest.mark.aws
@pytest.mark.dask
def test_bench_extraction_scale_runs_floor_and_a_one_worker_cluster() -> None:
    report = _run_json("benchmarks.bench_extraction_scale", "--points", "2", "--sources", "gefs", "--workers", "1",
                       "--no-auto", "--latency-ms", "5")  # fmt: skip
    runs = {run["run"]: run for run in report["runs"]}
    assert set(runs) == {"floor", "cluster_1_workers"}
    assert report["identical_published_data"] is True
    assert runs["cluster_1_workers"]["per_source"]["gefs"]["chunk_gets"] > 0
    assert runs["cluster_1_workers"]["worker_peak_rss_mb"][0] > 0
    assert runs["floor"]["report"]["inner_chunks"] == 3 * report["sources"]["gefs"]["tiles"] * 5
