"""Recorded API Gateway REST events into the Lambda handler in embedded mode (no AWS), and the
handler's answers outside the routes: metrics, settings, unexpected errors."""

from __future__ import annotations

import base64
import json

import pytest

from forecast_core.layout import PRE_CANNED_POINTS_KEY
from forecast_core.points import PreCannedPoints
from points_api import services
from points_api.embedded import StoreRepository
from points_api.settings import ApiSettings
from tests.api.aws_fixtures import call, recorded_event


def _emf(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def test_recorded_events_in_embedded_mode(embedded: services.Services, capsys: pytest.CaptureFixture[str]) -> None:
    assert call(recorded_event("get_health.json")) == (200, {"status": "ok", "mode": "embedded"})
    status, created = call(recorded_event("post_points.json"))
    assert status == 201
    point_id = created["point"]["point_id"]
    assert call(recorded_event("post_points.json"))[0] == 409
    assert call(recorded_event("patch_point.json", point_id=point_id))[0] == 200
    status, listed = call(recorded_event("get_points.json"))
    assert [item["point_name"] for item in listed["points"]] == ["Upper trailhead"]
    assert call(recorded_event("delete_point.json", point_id=point_id))[0] == 200

    metrics = _emf(capsys.readouterr().out)
    writes = [line for line in metrics if "PointWrites" in line]
    rejected = [line for line in metrics if "PointWritesRejected" in line]
    assert [line["operation"] for line in writes] == ["create", "update", "delete"]
    assert [line["reason"] for line in rejected] == ["duplicate"]
    assert all(line["service"] == "points-api" for line in metrics)
    assert isinstance(embedded.repository, StoreRepository)
    assert embedded.repository.store.read_model(PRE_CANNED_POINTS_KEY, PreCannedPoints).points == []


def test_base64_bodies_and_unexpected_errors(embedded: services.Services, monkeypatch: pytest.MonkeyPatch) -> None:
    event = recorded_event("post_points.json")
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    assert call(event)[0] == 201
    event["body"] = base64.b64encode(b"\xff\xfe{").decode()
    status, answer = call(event)
    assert (status, answer["fields"][0]["field"]) == (422, "body")

    def broken() -> list:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(embedded.repository, "list_points", broken)
    status, answer = call(recorded_event("get_points.json"))
    assert (status, answer["error"]) == (500, "internal")
    assert "disk on fire" not in answer["message"]  # no internals leak to the caller


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("POINTS_TABLE_NAME", "POINTS_API_STORE_URL", "ARTIFACT_STORE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FORECAST_STORE_URL", "/tmp/store")
    monkeypatch.setenv("DEDUPE_DISTANCE_KM", "1.5")
    monkeypatch.setenv("MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("POINTS_API_TARGETED_EXTRACTION", "0")
    monkeypatch.setenv("EXTRACTION_SUBNETS", "subnet-a, subnet-b,")
    settings = ApiSettings.from_env()
    assert not settings.aws_mode and settings.artifact_store_url == "/tmp/store"
    assert (settings.dedupe_distance_km, settings.max_body_bytes, settings.targeted_extraction) == (1.5, 2048, False)
    assert settings.extraction_task.subnets == ["subnet-a", "subnet-b"] and not settings.extraction_task.enabled
    monkeypatch.setenv("POINTS_TABLE_NAME", "points")
    monkeypatch.setenv("ARTIFACT_STORE_URL", "s3://bucket")
    settings = ApiSettings.from_env()
    assert settings.aws_mode and settings.artifact_store_url == "s3://bucket"


def test_misconfiguration_answers_json_500(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("POINTS_TABLE_NAME", "POINTS_API_STORE_URL", "FORECAST_STORE_URL", "ARTIFACT_STORE_URL"):
        monkeypatch.delenv(name, raising=False)
    services.configure(None)
    try:
        status, answer = call(recorded_event("get_health.json"))
    finally:
        services.configure(None)
    assert (status, answer["error"]) == (500, "internal")
