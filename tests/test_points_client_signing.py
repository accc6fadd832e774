"""The app's write-back client signs requests with SigV4 where API Gateway uses IAM auth."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from forecast_core.points_client import HttpPointsClient, PointsApiError
from tests.conftest import JsonServer, serve_json


@pytest.fixture
def recorder() -> Iterator[JsonServer]:
    with serve_json(lambda path: (200, {"points": []})) as server:
        yield server


def test_local_api_requests_are_not_signed(recorder: JsonServer) -> None:
    assert HttpPointsClient(recorder.url).list_points() == []
    assert "Authorization" not in recorder.seen[-1][1]


def test_signing_adds_a_sigv4_authorization(recorder: JsonServer) -> None:
    client = HttpPointsClient(recorder.url, sign_aws=True, region="us-west-2")
    assert client.list_points() == []
    headers = recorder.seen[-1][1]
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/us-west-2/execute-api/aws4_request" in headers["Authorization"]
    assert "X-Amz-Date" in headers


def test_execute_api_hosts_are_signed_automatically() -> None:
    client = HttpPointsClient("https://abc123.execute-api.eu-west-1.amazonaws.com/prod")
    assert client.sign_aws and client.region == "eu-west-1"
    assert not HttpPointsClient("http://127.0.0.1:5007").sign_aws


def test_unreachable_api_is_a_clear_error() -> None:
    with pytest.raises(PointsApiError, match="unreachable") as raised:
        HttpPointsClient("http://127.0.0.1:9", timeout_seconds=2).list_points()
    assert raised.value.status == 0
