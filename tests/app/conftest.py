"""Fixtures of the dashboard tests: a store filled by the real pipeline, servers (the browser is
shared from ``tests/conftest.py``).

``app_store`` seeds a store with points inside the tiny sample region (plus one with a hostile
name) and runs the real ``forecast-panel extract`` and ``inventory`` on ``tiny_samples``; it is
shared read-only by the session. Tests that change points copy it first (``fresh_store``).
All app tests share one xdist group so the session fixture is built once.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from forecast_core.init_store import init_store, load_registry_file
from forecast_core.points import Point, PreCannedPoints
from forecast_core.store import ArtifactStore
from tests.ports import reserved_port

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "forecast_cli"]
HOSTILE_NAME = "<script>alert(1)</script> Øvre “Hut” 雪"
CREATED = datetime(2026, 11, 1, tzinfo=UTC)

# lat 39.0–40.5, lon −107…−105: the tiny sample region
TINY_POINTS = [
    ("boulder-flatirons", "Boulder Flatirons", 39.9889, -105.2931),
    ("aspen-cabin", "Aspen Cabin", 39.1911, -106.8175),
    ("bear-lake-trailhead", "Bear Lake Trailhead", 40.3122, -105.6458),
    ("hostile-hut", HOSTILE_NAME, 39.6, -106.1),
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/app/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.xdist_group("forecast_panel_app"))


def tiny_points() -> PreCannedPoints:
    points = [
        Point(
            point_id=pid,
            point_name=name,
            latitude=lat,
            longitude=lon,
            created_by="tests",
            created_utc=CREATED,
            updated_utc=CREATED,
            tags=["test"],
        )
        for pid, name, lat, lon in TINY_POINTS
    ]
    return PreCannedPoints(generated_utc=CREATED, points=points)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ICECHUNK_LOG": "error"}
    return subprocess.run([*CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="session")
def app_store(tiny_samples: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local store written by the real pipeline (extract + inventory) on the tiny samples."""
    root = tmp_path_factory.mktemp("app-store") / "store"
    registry = load_registry_file(tiny_samples / "source_registry.json")
    init_store(ArtifactStore(str(root)), registry, points=tiny_points())
    extract = _cli("extract", "--store", str(root), "--no-progress")
    assert extract.returncode in (0, 1), extract.stdout + extract.stderr
    inventory = _cli("inventory", "--store", str(root))
    assert inventory.returncode == 0, inventory.stdout + inventory.stderr
    return root


@pytest.fixture(scope="session")
def two_inits_store(app_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``app_store`` plus the init before the newest (``extract --init previous``): two inits listed."""
    root = tmp_path_factory.mktemp("two-inits") / "store"
    shutil.copytree(app_store, root)
    backfill = _cli("extract", "--store", str(root), "--init", "previous", "--no-progress")
    assert backfill.returncode in (0, 1), backfill.stdout + backfill.stderr
    return root


@pytest.fixture
def fresh_store(app_store: Path, tmp_path: Path) -> Path:
    """A private copy of ``app_store`` (for tests that write points or status)."""
    target = tmp_path / "store"
    shutil.copytree(app_store, target)
    return target


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 300.0) -> None:
    """Wait until ``url`` answers (below 500); fails at once if ``process`` exits first. The
    timeout only guards against a hang: start-up takes seconds, more on a loaded machine."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TimeoutError(f"the server exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer")


class Server:
    """A server subprocess, by default the CLI's (its own process group, stopped with SIGTERM then
    SIGKILL); ``program`` replaces the CLI, ``env`` adds variables, ``cwd`` defaults to the repo."""

    def __init__(
        self,
        args: list[str],
        health_url: str,
        log_path: Path,
        *,
        program: list[str] = CLI,
        env: dict[str, str] | None = None,
        cwd: Path = ROOT,
        timeout: float = 300.0,
    ) -> None:
        self.log = open(log_path, "wb")  # noqa: SIM115 (closed in stop)
        variables = {**os.environ, "ICECHUNK_LOG": "error", **(env or {})}
        self.process = subprocess.Popen(
            [*program, *args], cwd=cwd, env=variables, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_http(health_url, self.process, timeout)
        except TimeoutError:
            self.stop()
            raise AssertionError(log_path.read_text()) from None

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture
def api_server(fresh_store: Path, tmp_path: Path) -> Iterator[str]:
    """The real local write-back API on an ephemeral port (no targeted extraction)."""
    with reserved_port() as port:
        server = Server(
            ["api", "--store", str(fresh_store), "--port", str(port), "--no-extract"],
            f"http://127.0.0.1:{port}/health",
            tmp_path / "api.log",
        )
    yield f"http://127.0.0.1:{port}"
    server.stop()


def serve_app(store: Path, tmp_path: Path, api: str | None = None) -> tuple[Server, str]:
    """``forecast-panel serve`` on an ephemeral port, tiles off; returns (server, base URL)."""
    with reserved_port() as port:
        args = ["serve", "--store", str(store), "--port", str(port), "--tiles", "none"]
        if api:
            args += ["--api", api]
        server = Server(args, f"http://127.0.0.1:{port}/liveness", tmp_path / f"serve-{port}.log")
    return server, f"http://127.0.0.1:{port}"


@pytest.fixture
def app_url(app_store: Path, tmp_path: Path) -> Iterator[str]:
    """The dashboard served on the session store (read-only)."""
    server, url = serve_app(app_store, tmp_path)
    yield url
    server.stop()
