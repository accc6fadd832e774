"""Alert rules in AWS mode on the moto server: API Gateway events into the handler, DynamoDB as
the source of truth (rule, dedupe key, per-point count), alert_rules.json rebuilt in S3, audit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from forecast_core.alerts import AlertRules
from points_api import services
from points_api.local_server import proxy_event
from tests.api.aws_fixtures import STORE_PREFIX, AwsApi, call, create_aws_resources

pytestmark = pytest.mark.aws


@pytest.fixture
def aws_api(moto: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsApi]:
    resources = create_aws_resources(moto, s3_bucket, monkeypatch)
    monkeypatch.setenv("POINTS_API_TARGETED_EXTRACTION", "0")
    services.configure(None)
    yield resources
    services.configure(None)


def request(method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    raw = json.dumps(body).encode() if body is not None else None
    event = proxy_event(method, path, {"Content-Type": ["application/json"]}, raw)
    return call(event)


def rules_file(api: AwsApi) -> AlertRules:
    s3 = boto3.client("s3", endpoint_url=api.endpoint)
    body = s3.get_object(Bucket=api.bucket, Key=f"{STORE_PREFIX}/dashboard/config/alert_rules.json")["Body"]
    return AlertRules.model_validate_json(body.read())


def table_kinds(api: AwsApi, *, markers: bool = False) -> dict[str, int]:
    """Items of the rules table per kind (the transactions' ``write`` markers only if asked)."""
    items = boto3.client("dynamodb", endpoint_url=api.endpoint).scan(TableName="alert-rules")["Items"]
    kinds: dict[str, int] = {}
    for item in items:
        kind = item["kind"]["S"]
        if markers or kind != "write":
            kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def rule_body(point_id: str, threshold: float = 10.0) -> dict[str, Any]:
    return {
        "point_id": point_id,
        "created_by": "tester",
        "condition": {"kind": "statistic", "variable_id": "temperature_2m", "window": {"end_hours": 120},
                      "statistic": "median", "comparison": "<", "threshold": threshold, "unit": "degF"},
    }  # fmt: skip


def test_rules_lifecycle_in_dynamodb(aws_api: AwsApi) -> None:
    status, created = request("POST", "/points", {"point_name": "Ridge", "latitude": 45.0, "longitude": -110.0,
                                                  "created_by": "tester"})  # fmt: skip
    assert status == 201, created
    point_id = created["point"]["point_id"]
    status, answer = request("POST", "/rules", rule_body(point_id))
    assert status == 201, answer
    rule_id = answer["rule"]["rule_id"]
    assert table_kinds(aws_api, markers=True) == {"rule": 1, "rulekey": 1, "count": 1, "write": 1}
    assert [rule.rule_id for rule in rules_file(aws_api).rules] == [rule_id]

    celsius = rule_body(point_id) | {"condition": rule_body(point_id)["condition"] | {"threshold": -12.222222222,
                                                                                      "unit": "degC"}}  # fmt: skip
    status, duplicate = request("POST", "/rules", celsius)
    assert status == 409 and duplicate["conflict"]["rule_id"] == rule_id

    status, second = request("POST", "/rules", rule_body(point_id, threshold=0.0))
    assert status == 201
    status, changed = request(
        "PATCH", f"/rules/{second['rule']['rule_id']}", {"condition": rule_body(point_id)["condition"]}
    )
    assert status == 409 and changed["conflict"]["rule_id"] == rule_id
    status, relabelled = request("PATCH", f"/rules/{rule_id}", {"label": "Bitter cold", "updated_by": "tester"})
    assert status == 200 and relabelled["rule"]["label"] == "Bitter cold"
    assert {rule.label for rule in rules_file(aws_api).rules} == {"Bitter cold", None}
    status, listed = request("GET", f"/rules?point_id={point_id}")
    assert status == 200 and len(listed["rules"]) == 2

    status, _ = request("DELETE", f"/points/{point_id}")
    assert status == 200
    assert rules_file(aws_api).rules == [] and table_kinds(aws_api) == {"count": 1}
    count = boto3.client("dynamodb", endpoint_url=aws_api.endpoint).get_item(
        TableName="alert-rules", Key={"pk": {"S": f"count#{point_id}"}}
    )["Item"]
    assert count["n"]["N"] == "0"
    audit = boto3.client("dynamodb", endpoint_url=aws_api.endpoint).scan(TableName="points-audit")["Items"]
    actions = sorted(item["action"]["S"] for item in audit)
    assert actions.count("create_rule") == 2 and actions.count("delete_rule") == 2 and "update_rule" in actions


def test_the_per_point_limit_holds_in_dynamodb(aws_api: AwsApi, monkeypatch: pytest.MonkeyPatch) -> None:
    from points_api import rules_dynamo

    monkeypatch.setattr(rules_dynamo, "MAX_RULES_PER_POINT", 2)
    status, created = request("POST", "/points", {"point_name": "Col", "latitude": 46.0, "longitude": 7.0,
                                                  "created_by": "tester"})  # fmt: skip
    point_id = created["point"]["point_id"]
    assert [request("POST", "/rules", rule_body(point_id, threshold=float(t)))[0] for t in range(3)] == [201, 201, 422]
    status, answer = request("POST", "/rules", rule_body("no-such-point"))
    assert status == 422 and answer["fields"][0]["field"] == "point_id"


def test_without_a_rules_table_the_routes_say_so(aws_api: AwsApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALERT_RULES_TABLE_NAME")
    services.configure(None)
    status, answer = request("GET", "/rules")
    assert (status, answer["error"]) == (503, "unavailable")
