"""`forecast-panel demo` end to end, as a user runs it: sample data → extraction → API + app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from forecast_core.layout import EXTRACTION_STATUS_KEY, LATEST_MANIFEST_KEY
from forecast_core.status import ExtractionStatus, RunManifest
from forecast_core.store import ArtifactStore
from tests.ports import reserved_port


@pytest.mark.slow
def test_demo_runs_offline_end_to_end(tmp_path: Path) -> None:
    # the ports stay reserved until the end, so the "stopped" check cannot meet another server
    with reserved_port() as app_port, reserved_port() as api_port:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "forecast_cli.main",
                "demo",
                "--dir",
                str(tmp_path / "demo"),
                "--port",
                str(app_port),
                "--api-port",
                str(api_port),
                "--check",
            ],
            capture_output=True,
            text=True,
            timeout=570,
            env={**os.environ, "POINTS_API_TARGETED_EXTRACTION": "0"},
            check=False,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert f"http://127.0.0.1:{app_port}/" in result.stdout
        # the servers were stopped when the demo returned
        for port in (app_port, api_port):
            with pytest.raises(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
    store = ArtifactStore(str(tmp_path / "demo" / "store"))
    manifest = store.read_model(LATEST_MANIFEST_KEY, RunManifest)
    assert {source.source_id for source in manifest.sources} == {"gefs", "ecmwf_ifs_ens"}
    assert len(manifest.point_ids) == 7  # the enabled default points
    newest, previous = manifest.init_dates("gefs", "temperature_2m")  # yesterday's run is there to compare
    assert (newest - previous).days == 1
    assert all(source.init_time.date() == newest for source in manifest.sources)
    status = store.read_model(EXTRACTION_STATUS_KEY, ExtractionStatus)
    assert status.errors == [] and status.run_id == manifest.run_id
    assert json.loads((tmp_path / "demo" / "sources" / "source_registry.json").read_text())["sources"]
