"""Smoke library pieces: schema drift, rollups, retry policy, the S3 client and the workflows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from forecast_smoke.metrics import rollup_metrics, write_emf
from forecast_smoke.retry import RetryPolicy, call_with_retry, is_transient, s3_client
from forecast_smoke.rollup import make_rollup, percentile
from forecast_smoke.schemas import SMOKE_MODELS, committed_schema, schema_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(SMOKE_MODELS))
def test_committed_smoke_schema_matches_model(name: str) -> None:
    assert committed_schema(name) == schema_for(name), (
        f"forecast_smoke/schemas/{name}.schema.json drifted: run `python -m forecast_smoke.schemas`"
    )


def test_percentiles_and_rollup() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([0.0, 10.0], 0.95) == pytest.approx(9.5)
    rollup = make_rollup("s3-read", [1.0, 2.0, 3.0, 4.0], ok=3, total_bytes=400, wall_seconds=2.0)
    assert (rollup.count, rollup.ok, rollup.failed) == (4, 3, 1)
    assert rollup.p50_seconds == pytest.approx(2.5) and rollup.p95_seconds == pytest.approx(3.85)
    assert rollup.items_per_second == 2.0 and rollup.bytes_per_second == 200.0
    empty = make_rollup("s3-upload", [], ok=0, total_bytes=0, wall_seconds=0.0)
    assert empty.p50_seconds is None and empty.items_per_second == 0.0
    assert "SmokeLatencyP50Seconds" not in rollup_metrics(empty)


def test_emf_line_carries_the_step(capsys) -> None:
    rollup = make_rollup("zarr-query", [0.5], ok=1, total_bytes=10, wall_seconds=1.0)
    line = write_emf(rollup)
    assert capsys.readouterr().out == line + "\n"
    assert '"Namespace":"ForecastPanel/Smoke"' in line and '"step":"zarr-query"' in line and '"service":"smoke"' in line


def test_transient_errors_are_retried_with_backoff() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OSError("read failed") from ConnectionResetError("peer reset")
        return "data"

    assert call_with_retry(flaky, RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.02), "t") == ("data", 3)

    def permanent() -> None:
        calls.append(1)
        raise FileNotFoundError("no such store")

    calls.clear()
    with pytest.raises(FileNotFoundError):
        call_with_retry(permanent, RetryPolicy(attempts=5, initial_wait=0.01), "t")
    assert len(calls) == 1


def test_is_transient_reads_http_status() -> None:
    from botocore.exceptions import ClientError

    throttled = ClientError({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "GetObject")
    denied = ClientError({"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "GetObject")
    assert is_transient(throttled) and not is_transient(denied)
    assert is_transient(TimeoutError()) and not is_transient(ValueError("bad"))


def test_s3_client_uses_standard_retries_and_env_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    client = s3_client(max_attempts=4)
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client.meta.config.retries["mode"] == "standard"
    assert client.meta.config.retries["total_max_attempts"] == 4
    assert s3_client("http://127.0.0.1:10").meta.endpoint_url == "http://127.0.0.1:10"


def test_workflows_run_the_tests_and_a_scheduled_smoke() -> None:
    ci = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    smoke = yaml.safe_load((ROOT / ".github/workflows/smoke.yml").read_text())
    ci_runs = [step.get("run", "") for job in ci["jobs"].values() for step in job["steps"]]
    assert any("scripts/dev test" in run for run in ci_runs)
    assert ci["permissions"] == {"contents": "read"}
    triggers = smoke[True] if True in smoke else smoke["on"]  # YAML 1.1 reads `on:` as True
    assert triggers["schedule"][0]["cron"] and "workflow_dispatch" in triggers
    assert smoke["permissions"]["id-token"] == "write"
    smoke_runs = " ".join(step.get("run", "") for job in smoke["jobs"].values() for step in job["steps"])
    for step in ("zarr-query", "s3-upload", "s3-read", "plot"):
        assert f"smoke {step}" in smoke_runs
    for workflow in (ci, smoke):
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                if "uses" in step:
                    pinned = re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"])
                    assert pinned, f"pin {step['uses']} by commit SHA"
    for name in ("ci.yml", "smoke.yml"):  # each SHA says which release it is
        text = (ROOT / ".github/workflows" / name).read_text()
        assert all(re.search(r"# v\d", line) for line in text.splitlines() if "uses:" in line)
    image_runs = " ".join(step.get("run", "") for step in ci["jobs"]["images"]["steps"])
    for image in ("app.Dockerfile", "extraction.Dockerfile"):
        assert f"docker build -f deploy/docker/{image}" in image_runs
    assert "--help" in image_runs and "/liveness" in image_runs
    cache = [step for step in ci["jobs"]["test"]["steps"] if step.get("uses", "").startswith("actions/cache@")]
    assert cache and "uv.lock" in cache[0]["with"]["key"], "the uv cache is keyed on the lock"
    text = (ROOT / ".github/workflows/smoke.yml").read_text()
    assert "aws-secret-access-key" not in text and "AKIA" not in text
