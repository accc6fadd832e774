"""``forecast-panel demo``: sample data → extraction → write-back API + app, all offline.

Every step runs the same CLI a user would (as subprocesses), against a local folder store:

1. ``sample-data`` writes GEFS / IFS ENS sample sources (skipped if present, unless --fresh);
2. ``init-store`` seeds the store's config with the sample registry and the default points;
3. ``extract --init previous`` then ``extract`` publish yesterday's and today's inits (so the
   overview can compare them), ``inventory`` counts the store for the status tab;
4. ``api`` serves the write-back API on loopback, ``serve`` the dashboard beside it.

``--check`` starts both servers, waits until they answer, prints their URLs and stops them
(used by the tests); otherwise the demo runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)
CLI = [sys.executable, "-m", "forecast_cli"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir", default="demo-data", help="working folder for sources and store (default: ./demo-data)"
    )
    parser.add_argument("--port", type=int, default=5006, help="dashboard port (default 5006)")
    parser.add_argument("--api-port", type=int, default=5007, help="write-back API port (default 5007)")
    parser.add_argument("--fresh", action="store_true", help="rewrite sample sources and store from scratch")
    parser.add_argument("--check", action="store_true", help="start, verify both servers answer, then stop")
    parser.add_argument("--size", choices=["demo", "tiny"], default="demo", help="sample size (default: demo)")


def _step(title: str, *args: str) -> None:
    log.info("demo: %s", title)
    started = time.perf_counter()
    result = subprocess.run([*CLI, *args], check=False)
    if result.returncode != 0:
        raise SystemExit(f"demo step failed ({title}): exit code {result.returncode}")
    log.info("demo: %s done in %.1f s", title, time.perf_counter() - started)


def wait_for_http(url: str, process: subprocess.Popen[bytes] | None = None, timeout_seconds: float = 300.0) -> None:
    """Poll ``url`` until it answers with a non-5xx status. TimeoutError when ``process`` (the
    server) exits first, or after ``timeout_seconds``: a guard against a hang, generous because
    a server starts in seconds on a quiet machine but much later on a busy one."""
    deadline = time.monotonic() + timeout_seconds
    last_error = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise TimeoutError(f"the server for {url} exited with {process.returncode} before it answered")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
                if response.status < 500:
                    return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return
            last_error = f"HTTP {error.code}"
        except OSError as error:
            last_error = str(error)
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout_seconds:.0f} s ({last_error})")


@contextlib.contextmanager
def _server(*args: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([*CLI, *args], start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()  # gone, its port closed, before the demo returns


# The tiny sample region (lat 39–40.5, lon −107…−105) holds none of the default points.
_TINY_POINTS = (
    ("vail-pass", "Vail Pass Trailhead", 39.53, -106.22),
    ("breckenridge-cabin", "Breckenridge Cabin", 39.48, -106.04),
)


def _tiny_points_file(root: Path) -> Path:
    from forecast_core.base import utc_now
    from forecast_core.points import Point, PreCannedPoints

    now = utc_now()
    points = [
        Point(
            point_id=point_id,
            point_name=name,
            latitude=latitude,
            longitude=longitude,
            created_by="demo",
            created_utc=now,
            updated_utc=now,
        )
        for point_id, name, latitude, longitude in _TINY_POINTS
    ]
    path = root / "tiny_points.json"
    root.mkdir(parents=True, exist_ok=True)
    path.write_bytes(PreCannedPoints(generated_utc=now, points=points).to_json_bytes())
    return path


def run(args: argparse.Namespace) -> int:
    root = Path(args.dir).resolve()
    sources = root / "sources"
    store = root / "store"
    if args.fresh or not (sources / "source_registry.json").exists():
        _step("write sample sources", "sample-data", "--out", str(sources), "--size", args.size)
    seed = ["--reset-points"] if args.fresh else []
    if args.size == "tiny":
        seed = ["--points", str(_tiny_points_file(root))]
    registry = str(sources / "source_registry.json")
    _step("seed the store's config", "init-store", "--store", str(store), "--registry", registry, *seed)
    # yesterday's run first, as a store that has been running for a day holds it: the
    # overview's "compare with previous init" then has something to compare
    _step("extract the previous init", "extract", "--store", str(store), "--init", "previous", "--no-progress")
    _step("extract every point", "extract", "--store", str(store))
    _step("take the store's inventory", "inventory", "--store", str(store))
    api_url = f"http://127.0.0.1:{args.api_port}"
    app_url = f"http://127.0.0.1:{args.port}"
    with (
        _server("api", "--store", str(store), "--port", str(args.api_port)) as api,
        _server("serve", "--store", str(store), "--api", api_url, "--port", str(args.port)) as app,
    ):
        wait_for_http(f"{api_url}/health", api)
        wait_for_http(f"{app_url}/liveness", app)
        print(f"dashboard: {app_url}/  write-back API: {api_url}/points  store: {store}")  # noqa: T201
        if args.check:
            return 0
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(1)
    return 0
