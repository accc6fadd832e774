"""Storage details: embedded mode on S3 (moto), the compare-and-swap retry, targeted extraction."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import boto3
import pytest

from forecast_core.layout import PRE_CANNED_POINTS_KEY
from forecast_core.points import PointPayload, PreCannedPoints
from forecast_core.points_client import HttpPointsClient
from forecast_core.store import ArtifactStore
from forecast_core.swap import swap
from points_api import services
from points_api.audit import AUDIT_RECORDS_PREFIX
from points_api.embedded import StoreRepository
from points_api.extraction_trigger import SubprocessExtraction
from points_api.local_server import start_server
from tests.api.conftest import embedded_services


def _payload(name: str, latitude: float) -> PointPayload:
    return PointPayload(point_name=name, latitude=latitude, longitude=5.0, created_by="tester")


@pytest.mark.aws
def test_embedded_mode_on_an_s3_store(s3_bucket: str) -> None:
    url = f"s3://{s3_bucket}/demo"
    services.configure(embedded_services(url))
    server, base = start_server()
    try:
        client = HttpPointsClient(base)
        created = client.create_point(_payload("Ridge", 10.0))
        client.create_point(_payload("Valley", 11.0))
        client.delete_point(created.point_id)
    finally:
        server.shutdown()
        server.server_close()
        services.configure(None)
    store = ArtifactStore(url)
    assert [point.point_name for point in store.read_model(PRE_CANNED_POINTS_KEY, PreCannedPoints).points] == ["Valley"]
    records = [json.loads(store.read_bytes(key)) for key in store.iter_keys(AUDIT_RECORDS_PREFIX)]
    assert sorted(record["action"] for record in records) == ["create", "create", "delete"]


@pytest.mark.aws
def test_swap_retries_after_losing_the_race(s3_bucket: str, moto: str) -> None:
    store = ArtifactStore(f"s3://{s3_bucket}/p", endpoint_url=moto)
    rounds: list[bytes | None] = []

    def change(old: bytes | None) -> tuple[bytes, int]:
        rounds.append(old)
        value = json.loads(old)["n"] if old else 0
        if len(rounds) == 1:  # another writer slips in between this read and this write
            boto3.client("s3", endpoint_url=moto).put_object(Bucket=s3_bucket, Key="p/state.json", Body=b'{"n": 41}')
        return json.dumps({"n": value + 1}).encode(), value + 1

    assert swap(store, "state.json", change) == 42
    assert rounds[0] is None and json.loads(rounds[1] or b"{}") == {"n": 41}
    assert store.read_bytes("state.json") == b'{"n": 42}'


def test_local_folder_writes_are_whole_and_lock_file_is_stable(store_url: str) -> None:
    repository = StoreRepository(ArtifactStore(store_url), 0.5)
    for index in range(5):
        repository.create_point(_payload(f"P{index}", 10.0 + index))
    store = ArtifactStore(store_url)
    assert len(store.read_model(PRE_CANNED_POINTS_KEY, PreCannedPoints).points) == 5
    assert [info.key for info in store.list("dashboard/config/")] == [PRE_CANNED_POINTS_KEY], (
        "lock files are not listed"
    )
    assert Path(store.path("dashboard/config/.pre_canned_points.lock")).is_file(), "one lock file, kept between writes"


def test_targeted_extraction_starts_the_cli_and_never_fails_the_create(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``request`` returns while the extraction it started is still running: the started
    interpreter is held at a gate (a FIFO) that only the test opens, after ``request`` returned."""
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    held = tmp_path / "held-python"
    held.write_text(f'#!/bin/sh\nread _ < "{gate}"\nexec "{sys.executable}" "$@"\n')
    held.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(held))
    trigger = SubprocessExtraction(store_url)
    trigger.request("ridge-0000")
    assert len(trigger.started) == 1
    process = trigger.started[0]
    assert process.poll() is None, "the create does not wait for the extraction"
    assert process.args[:3] == [str(held), "-m", "forecast_cli"]
    assert process.args[3:] == ["extract", "--store", store_url, "--points", "ridge-0000"]
    assert os.getsid(process.pid) == process.pid, "the extraction runs in its own session"
    with open(gate, "w") as opened:  # let it through: the real CLI runs, on a store without a registry
        opened.write("go\n")
    assert process.wait(timeout=300) != 0

    broken = SubprocessExtraction(store_url)
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    broken.request("ridge-0000")  # the OSError is logged and swallowed
    assert broken.started == []
