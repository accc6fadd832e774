"""The local server over HTTP with the app's own client: shapes, validation, dedupe, audit."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from forecast_core.layout import POINTS_AUDIT_LOG_KEY, PRE_CANNED_POINTS_KEY
from forecast_core.points import PointPayload, PointUpdate, PreCannedPoints
from forecast_core.points_client import HttpPointsClient, PointsApiError
from tests.api.conftest import LocalApi, raw_request


def _payload(name: str = "Cabin", latitude: float = 45.1, longitude: float = -110.0) -> PointPayload:
    return PointPayload(point_name=name, latitude=latitude, longitude=longitude, created_by="tester")


def test_create_list_update_delete_round_trip(local_api: LocalApi) -> None:
    client = HttpPointsClient(local_api.url)
    assert client.health()
    created = client.create_point(_payload("  Cabin   by the  lake ", longitude=250.0))
    assert created.point_name == "Cabin by the lake"
    assert created.longitude == pytest.approx(-110.0)
    assert local_api.extraction.requested == [created.point_id]
    assert [point.point_id for point in client.list_points()] == [created.point_id]

    renamed = client.update_point(created.point_id, PointUpdate(point_name="Lake cabin", enabled=False, tags=["x"]))
    assert (renamed.point_name, renamed.enabled, renamed.tags) == ("Lake cabin", False, ["x"])
    client.update_point(created.point_id, PointUpdate(enabled=True))
    assert local_api.extraction.requested == [created.point_id, created.point_id]  # re-enabled
    client.update_point(created.point_id, PointUpdate(enabled=False))
    stored = local_api.store.read_model(PRE_CANNED_POINTS_KEY, PreCannedPoints)
    assert stored.get(created.point_id).point_name == "Lake cabin"

    deleted = client.delete_point(created.point_id)
    assert deleted.point_id == created.point_id
    assert client.list_points() == []
    with pytest.raises(PointsApiError) as missing:
        client.delete_point(created.point_id)
    assert missing.value.status == 404

    audit = [json.loads(line) for line in local_api.store.read_bytes(POINTS_AUDIT_LOG_KEY).splitlines()]
    assert [record["action"] for record in audit] == ["create", "update", "update", "update", "delete"]
    assert audit[0]["actor"] == "tester" and audit[0]["before"] is None
    assert audit[1]["before"]["point_name"] == "Cabin by the lake" and audit[1]["after"]["point_name"] == "Lake cabin"
    assert audit[4]["after"] is None


def test_duplicates_name_lookalike_and_distance(local_api: LocalApi) -> None:
    client = HttpPointsClient(local_api.url)
    first = client.create_point(_payload("Cabin"))
    with pytest.raises(PointsApiError) as by_name:
        client.create_point(_payload("CАBIN", latitude=10.0, longitude=10.0))  # Cyrillic А
    assert by_name.value.status == 409
    assert by_name.value.conflict is not None
    assert by_name.value.conflict["reason"] == "name" and by_name.value.conflict["point_id"] == first.point_id
    with pytest.raises(PointsApiError) as by_distance:
        client.create_point(_payload("Shed", latitude=45.1021, longitude=-110.0))  # ~0.22 km away
    assert by_distance.value.conflict is not None
    assert by_distance.value.conflict["reason"] == "distance"
    assert 0.1 < by_distance.value.conflict["distance_km"] < 0.5
    assert "km away" in by_distance.value.message
    second = client.create_point(_payload("Shed", latitude=45.2, longitude=-110.0))
    with pytest.raises(PointsApiError) as rename:
        client.update_point(second.point_id, PointUpdate(point_name="cabin"))
    assert rename.value.status == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"point_name": "x", "latitude": 91, "longitude": 0, "created_by": "t"}', "latitude"),
        (b'{"point_name": "x", "latitude": 1, "longitude": 361, "created_by": "t"}', "longitude"),
        (b'{"point_name": "x", "latitude": NaN, "longitude": 0, "created_by": "t"}', "latitude"),
        (b'{"point_name": "x", "latitude": 1e999, "longitude": 0, "created_by": "t"}', "latitude"),
        (b'{"point_name": "a\\u0007b", "latitude": 1, "longitude": 0, "created_by": "t"}', "point_name"),
        (b'{"point_name": "   ", "latitude": 1, "longitude": 0, "created_by": "t"}', "point_name"),
        (b'{"point_name": "x", "latitude": "1", "longitude": 0, "created_by": "t"}', "latitude"),
        (b'{"point_name": "x", "latitude": 1, "longitude": 0, "created_by": "t", "admin": true}', "admin"),
        (b'{"point_name": "x", "latitude": 1, "longitude": 0}', "created_by"),
        (b"{not json", "body"),
        (b"[]", "body"),
    ],
)
def test_invalid_bodies_get_422_with_field_messages(local_api: LocalApi, body: bytes, field: str) -> None:
    status, answer = raw_request(local_api, "POST", "/points", body)
    assert status == 422, answer
    assert answer["error"] == "validation" and answer["message"]
    assert field in [item["field"] for item in answer["fields"]], answer["fields"]


def test_oversized_body_gets_413_and_unknown_routes_404(local_api: LocalApi) -> None:
    status, answer = raw_request(local_api, "POST", "/points", b'{"point_name": "' + b"x" * 10_000 + b'"}')
    assert (status, answer["error"]) == (413, "too_large")
    assert raw_request(local_api, "GET", "/nothing")[0] == 404
    status, answer = raw_request(local_api, "PATCH", "/points/no-such-point", b'{"enabled": false}')
    assert (status, answer["error"]) == (404, "not_found")
    status, answer = raw_request(local_api, "PATCH", "/points/no-such-point", b"{}")
    assert status == 422


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("x" * 81, "81 characters"),
        ("Cabin\u200b", "zero-width space"),
        ("\u202egnp.exe", "right-to-left override"),
        ("Cab\x00in", "NUL"),
        ("Line\nbreak", "newline"),
        ("\ud800", "lone surrogate"),
    ],
)
def test_hostile_names_are_rejected(local_api: LocalApi, name: str, why: str) -> None:
    body = json.dumps({"point_name": name, "latitude": 1.0, "longitude": 2.0, "created_by": "t"}).encode()
    status, answer = raw_request(local_api, "POST", "/points", body)
    assert status == 422, why
    assert [item["field"] for item in answer["fields"]] == ["point_name"], why


def test_lookalike_and_spacing_variants_are_duplicates(local_api: LocalApi) -> None:
    client = HttpPointsClient(local_api.url)
    client.create_point(_payload("Lake-Side Cabin"))
    for index, variant in enumerate(["lake–side cabin", "LAKE-SIDE  CABIN", "Lаke-Sіde Cаbin", "ｌａｋｅ-side cabin"]):
        with pytest.raises(PointsApiError) as refused:
            client.create_point(_payload(variant, latitude=float(index)))
        assert refused.value.status == 409 and refused.value.conflict is not None, variant
        assert refused.value.conflict["reason"] == "name", variant


def test_cli_needs_a_store_and_lists_its_options() -> None:
    env = {key: value for key, value in os.environ.items() if key != "FORECAST_STORE_URL"}
    command = [sys.executable, "-m", "forecast_cli", "api"]
    missing = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "--store" in missing.stderr
    shown = subprocess.run([*command, "--help"], env=env, capture_output=True, text=True, timeout=60)
    for option in ("--store", "--port", "--host", "--endpoint-url", "--no-extract"):
        assert option in shown.stdout
