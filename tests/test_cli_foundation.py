"""`forecast-panel sample-data` and `init-store` as a user runs them (subprocess, real stores)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from forecast_core.layout import PRE_CANNED_POINTS_KEY, SOURCE_REGISTRY_KEY
from forecast_core.registry import SourceRegistry
from forecast_core.store import ArtifactStore

CLI = [sys.executable, "-m", "forecast_cli"]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}, check=False
    )


def test_help_lists_every_subcommand() -> None:
    result = _run("--help")
    for name in ["demo", "sample-data", "init-store", "extract", "inventory", "serve", "api", "smoke"]:
        assert name in result.stdout


def test_sample_data_then_init_store_local(tmp_path: Path) -> None:
    samples = tmp_path / "samples"
    result = _run("sample-data", "--out", str(samples), "--size", "tiny", "--newest-init", "2026-11-24")
    assert result.returncode == 0, result.stderr
    registry_file = samples / "source_registry.json"
    registry = SourceRegistry.model_validate_json(registry_file.read_bytes())
    assert [s.source_id for s in registry.sources] == ["gefs", "ecmwf_ifs_ens"]
    store = tmp_path / "store"
    result = _run("init-store", "--store", str(store), "--registry", str(registry_file))
    assert result.returncode == 0, result.stderr
    stored = ArtifactStore(str(store)).read_model(SOURCE_REGISTRY_KEY, SourceRegistry)
    assert stored == registry


def test_init_store_rejects_malformed_registry_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "registry.json"
    bad.write_text(json.dumps({"schema_version": 1, "sources": [{"source_id": "BAD ID"}]}))
    result = _run("init-store", "--store", str(tmp_path / "store"), "--registry", str(bad))
    assert result.returncode == 1
    assert "not a valid SourceRegistry" in result.stderr
    assert not (tmp_path / "store").exists()


@pytest.mark.aws
def test_sample_data_and_init_store_on_s3(s3_bucket: str, moto: str) -> None:
    out = f"s3://{s3_bucket}/samples"
    result = _run("sample-data", "--out", out, "--size", "tiny", "--newest-init", "2026-11-24")
    assert result.returncode == 0, result.stderr
    registry = ArtifactStore(out).read_model("source_registry.json", SourceRegistry)
    assert all(source.location.kind == "icechunk" for source in registry.sources)
    store_url = f"s3://{s3_bucket}/artifacts"
    result = _run("init-store", "--store", store_url)
    assert result.returncode == 0, result.stderr
    assert ArtifactStore(store_url).exists(PRE_CANNED_POINTS_KEY)
    from extraction.sources import open_source

    dataset = open_source(registry.get("gefs"))
    assert dataset.sizes["init_time"] == 2
    assert dataset["temperature_2m"].dims[1] == "ensemble_member"


def test_exit_without_teardown_keeps_the_code_output_and_atexit_handlers(tmp_path: Path) -> None:
    marker = tmp_path / "atexit.txt"
    script = (
        "import atexit, logging, sys\n"
        "from forecast_cli.main import exit_without_teardown\n"
        f"atexit.register(lambda: open({str(marker)!r}, 'w').write('ran'))\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "logging.getLogger('t').info('logged')\n"
        "sys.stdout.write('buffered, no newline')\n"
        "exit_without_teardown(3)\n"
        "print('never')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 3
    assert result.stdout == "buffered, no newline"
    assert "logged" in result.stderr
    assert marker.read_text() == "ran"
