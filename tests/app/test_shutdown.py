"""SIGTERM (what ECS sends) to the real ``forecast-panel serve``: it stops taking sessions and exits 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.app.conftest import ROOT, serve_app, wait_http
from tests.ports import reserved_port

ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except urllib.error.URLError:
        return False


def test_serve_stops_listening_and_exits_cleanly_on_sigterm(app_store: Path, tmp_path: Path) -> None:
    server, url = serve_app(app_store, tmp_path)
    try:
        with urllib.request.urlopen(url + "/", timeout=60) as page:  # a session is open
            assert page.status == 200
        server.process.send_signal(signal.SIGTERM)  # the process only, as ECS signals PID 1
        assert server.process.wait(timeout=60) == 0
    except subprocess.TimeoutExpired:
        pytest.fail("serve did not exit after SIGTERM")
    finally:
        server.stop()
    assert not _answers(url + "/liveness")
    log = (tmp_path / f"serve-{url.rsplit(':', 1)[1]}.log").read_text()
    assert "closing the listening sockets and 1 session(s)" in log
    assert "Traceback" not in log


def test_the_image_entrypoint_hands_sigterm_to_the_server(app_store: Path, tmp_path: Path) -> None:
    """The entrypoint script execs the CLI, so a signal to the container's PID 1 reaches Python."""
    env = {**os.environ, "FORECAST_PANEL_BIN": str(Path(sys.executable).parent / "forecast-panel")}
    with reserved_port() as port, open(tmp_path / "entrypoint.log", "wb") as log:
        command = ["sh", str(ENTRYPOINT), "forecast-panel", "serve", "--store", str(app_store), "--port", str(port)]
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_http(f"http://127.0.0.1:{port}/liveness", process)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0, (tmp_path / "entrypoint.log").read_text()
        finally:
            if process.poll() is None:
                process.kill()
    assert "the dashboard server stopped" in (tmp_path / "entrypoint.log").read_text()
