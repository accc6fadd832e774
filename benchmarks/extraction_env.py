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
    samples: list[float] = field(default_factory=list)

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


def _watch_children(pid: int, peak: list[int], stop: threading.Event) -> None:
    """Peak RSS of any single descendant of ``pid`` (e.g. LocalCluster workers), sampled."""
    import psutil

    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    while not stop.wait(0.05):
        try:
            for child in parent.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    peak[0] = max(peak[0], child.memory_info().rss)
        except psutil.Error:
            return


def run_process(argv: Sequence[str], env: dict[str, str], timeout: float = 3600.0) -> ProcessRun:
    """Run ``argv`` to completion; wall time and the process's own peak RSS (``wait4``), and
    the largest peak of any child process it starts, sampled every 50 ms."""
    started = time.perf_counter()
    process = subprocess.Popen(list(argv), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [
        threading.Thread(target=lambda: out.append(process.stdout.read() if process.stdout else b"")),
        threading.Thread(target=lambda: err.append(process.stderr.read() if process.stderr else b"")),
    ]
    peak, stop = [0], threading.Event()
    watcher = threading.Thread(target=_watch_children, args=(process.pid, peak, stop), daemon=True)
    for thread in [*readers, watcher]:
        thread.start()
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            process.kill()
        time.sleep(0.005)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    for thread in readers:
        thread.join()
    return ProcessRun(
        argv=list(argv),
        seconds=seconds,
        peak_rss_bytes=usage.ru_maxrss * 1024,
        returncode=process.returncode,
        stdout=b"".join(out).decode(errors="replace"),
        stderr=b"".join(err).decode(errors="replace"),
        children_peak_rss_bytes=peak[0],
    )


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def mb(value: float) -> float:
    return round(value / 1e6, 1)
