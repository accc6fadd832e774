"""AWS mode against the moto server over HTTP: recorded API Gateway events into the handler."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config

from forecast_core.points import PreCannedPoints
from points_api import services
from points_api.dynamo import DynamoRepository
from points_api.extraction_trigger import EcsExtraction
from points_api.settings import ApiSettings
from tests.api.aws_fixtures import STORE_PREFIX, AwsApi, call, create_aws_resources, recorded_event

pytestmark = pytest.mark.aws


@pytest.fixture
def aws_api(moto: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsApi]:
    """AWS mode built from the environment, as in a cold Lambda; RunTask requests recorded.

    moto 5.2 answers RunTask of a FARGATE/awsvpc task with a 500 (its ENI model lacks
    ``private_dns_name``), so the request is checked as sent; the trigger swallows the error, as it
    must for any RunTask failure. Retries are off for that client to keep the tests fast.
    """
    resources = create_aws_resources(moto, s3_bucket, monkeypatch)
    services.configure(None)
    client = boto3.client("ecs", endpoint_url=moto, config=Config(retries={"total_max_attempts": 1}))
    client.meta.events.register(
        "before-call.ecs.RunTask", lambda params, **_: resources.run_task_calls.append(params["body"])
    )
    settings = ApiSettings.from_env()
    services.current().extraction = EcsExtraction(settings.extraction_task, settings.artifact_store_url, client)
    yield resources
    services.configure(None)


def _points_file(api: AwsApi) -> PreCannedPoints:
    s3 = boto3.client("s3", endpoint_url=api.endpoint)
    body = s3.get_object(Bucket=api.bucket, Key=f"{STORE_PREFIX}/dashboard/config/pre_canned_points.json")["Body"]
    return PreCannedPoints.model_validate_json(body.read())


def _table_keys(api: AwsApi, kinds: tuple[str, ...] = ("point", "name")) -> set[str]:
    items = boto3.client("dynamodb", endpoint_url=api.endpoint).scan(TableName=api.points_table)["Items"]
    return {item["pk"]["S"] for item in items if item["kind"]["S"] in kinds}


def test_recorded_events_drive_the_full_lifecycle(aws_api: AwsApi, capsys: pytest.CaptureFixture[str]) -> None:
    run_task_calls = aws_api.run_task_calls
    assert call(recorded_event("get_health.json")) == (200, {"status": "ok", "mode": "aws"})
    status, created = call(recorded_event("post_points.json"))
    assert status == 201, created
    point = created["point"]
    assert (point["point_name"], point["longitude"], point["tags"]) == ("Trailhead", pytest.approx(-121.3), ["hike"])
    point_id = point["point_id"]
    assert _table_keys(aws_api) == {f"point#{point_id}", "name#trailhead"}
    assert len(_table_keys(aws_api, ("cell",))) == 1, "the create bumped its grid cell (distance guard)"
    assert [item.point_id for item in _points_file(aws_api).points] == [point_id]

    assert len(run_task_calls) == 1, "a targeted extraction task is requested after a create"
    request = json.loads(run_task_calls[0])
    assert request["cluster"] == aws_api.cluster_arn and request["launchType"] == "FARGATE"
    assert request["overrides"]["containerOverrides"] == [
        {
            "name": "extract",
            "command": ["forecast-panel", "extract", "--store", aws_api.store_url, "--points", point_id],
        }
    ]

    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert any(
        line.get("PointWrites") == [1.0] and line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ForecastPanel"
        for line in emf
    )

    status, duplicate = call(
        recorded_event(
            "post_points.json",
            {**json.loads(recorded_event("post_points.json")["body"]), "point_name": "TRAILHEAD", "latitude": 0.0},
        )
    )
    assert status == 409 and duplicate["conflict"]["reason"] == "name"

    status, renamed = call(recorded_event("patch_point.json", point_id=point_id))
    assert status == 200 and renamed["point"]["point_name"] == "Upper trailhead" and not renamed["point"]["enabled"]
    assert _table_keys(aws_api) == {f"point#{point_id}", "name#upper trailhead"}
    assert _points_file(aws_api).get(point_id).point_name == "Upper trailhead"

    status, listed = call(recorded_event("get_points.json"))
    assert status == 200 and [item["point_id"] for item in listed["points"]] == [point_id]

    status, deleted = call(recorded_event("delete_point.json", point_id=point_id))
    assert status == 200 and deleted["point"]["point_id"] == point_id
    assert _table_keys(aws_api) == set()
    assert _points_file(aws_api).points == []
    assert call(recorded_event("delete_point.json", point_id=point_id))[0] == 404

    audit = boto3.client("dynamodb", endpoint_url=aws_api.endpoint).query(
        TableName=aws_api.audit_table,
        KeyConditionExpression="point_id = :id",
        ExpressionAttributeValues={":id": {"S": point_id}},
    )["Items"]
    assert [item["action"]["S"] for item in audit] == ["create", "update", "delete"]
    assert audit[1]["actor"]["S"] == "panel"
    assert audit[2]["actor"]["S"].endswith("panel-task")  # DELETE has no body: the caller's identity
    assert json.loads(audit[1]["before"]["S"])["point_name"] == "Trailhead"


def test_invalid_and_oversized_events(aws_api: AwsApi) -> None:
    status, answer = call(recorded_event("post_points.json", {"point_name": "<script>x</script>", "latitude": 1}))
    assert status == 422 and {item["field"] for item in answer["fields"]} >= {"longitude", "created_by"}
    event = recorded_event("post_points.json")
    event["body"] = json.dumps({"point_name": "x" * 10_000})
    assert call(event)[0] == 413
    assert call(recorded_event("patch_point.json", point_id="Not An Id"))[0] == 404
    assert _table_keys(aws_api) == set()


def test_rename_to_a_taken_name_is_refused_and_changes_nothing(aws_api: AwsApi) -> None:
    body = json.loads(recorded_event("post_points.json")["body"])
    first = call(recorded_event("post_points.json", body))[1]["point"]
    second = call(recorded_event("post_points.json", {**body, "point_name": "Lake", "latitude": 10.0}))[1]["point"]
    event = recorded_event("patch_point.json", point_id=second["point_id"])
    event["body"] = json.dumps({"point_name": "trailhead"})
    status, answer = call(event)
    assert status == 409 and answer["conflict"]["point_id"] == first["point_id"]
    repository = services.current().repository
    assert isinstance(repository, DynamoRepository)
    assert {point.point_name for point in repository.scan_points()} == {"Trailhead", "Lake"}
