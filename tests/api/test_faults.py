"""Every write gets exactly one outcome when the store misbehaves (the faulty S3 proxy in front of
moto): a conditional write whose answer was lost after it took effect is retried and must be
recognised as ours — never a false 409 / 404, never applied twice — and audited exactly once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from forecast_core.points import PreCannedPoints
from forecast_smoke.s3_faults import FaultPlan, RequestPredicate, conditional_write, dynamodb_action
from forecast_smoke.s3_proxy import S3FaultProxy
from points_api import services
from points_api.extraction_trigger import NoExtraction
from tests.api.aws_fixtures import STORE_PREFIX, AwsApi, call, create_aws_resources, recorded_event

pytestmark = pytest.mark.aws
POINTS_KEY = f"{STORE_PREFIX}/dashboard/config/pre_canned_points.json"
TRANSACTIONS = dynamodb_action("TransactWriteItems")


@dataclass
class Faulty:
    """The API built from its environment with every AWS call going through the proxy."""

    proxy: S3FaultProxy
    aws: AwsApi
    mode: str

    def once(self, kind: str, match: RequestPredicate, times: int = 1) -> None:
        """Inject ``kind`` on the next ``times`` requests ``match`` accepts."""
        self.proxy.plan = FaultPlan(rate=1.0, kinds=(kind,), match=match, limit=times)

    def points_file(self) -> PreCannedPoints:
        body = boto3.client("s3", endpoint_url=self.aws.endpoint).get_object(Bucket=self.aws.bucket, Key=POINTS_KEY)
        return PreCannedPoints.model_validate_json(body["Body"].read())

    def audit(self) -> list[dict[str, Any]]:
        """Every audit record (oldest first), whichever backend holds them."""
        if self.mode == "aws":
            items = boto3.client("dynamodb", endpoint_url=self.aws.endpoint).scan(TableName=self.aws.audit_table)
            records = [{key: next(iter(value.values())) for key, value in item.items()} for item in items["Items"]]
        else:
            s3 = boto3.client("s3", endpoint_url=self.aws.endpoint)
            listed = s3.list_objects_v2(Bucket=self.aws.bucket, Prefix=f"{STORE_PREFIX}/logs/points_api/records/")
            records = [
                json.loads(s3.get_object(Bucket=self.aws.bucket, Key=item["Key"])["Body"].read())
                for item in listed.get("Contents", [])
            ]
        return sorted(records, key=lambda record: record["at"])


@pytest.fixture(params=["aws", "embedded-s3"])
def faulty(
    request: pytest.FixtureRequest, moto: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch, quick_retries: None
) -> Iterator[Faulty]:
    resources = create_aws_resources(moto, s3_bucket, monkeypatch)
    if request.param == "embedded-s3":
        for name in ("POINTS_TABLE_NAME", "AUDIT_TABLE_NAME"):
            monkeypatch.delenv(name)
        monkeypatch.setenv("POINTS_API_STORE_URL", resources.store_url)
    with S3FaultProxy(moto) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        services.configure(None)
        services.current().extraction = NoExtraction("tests")
        yield Faulty(proxy, resources, "aws" if request.param == "aws" else "embedded")
    services.configure(None)


def _create(body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    return call(recorded_event("post_points.json", body))


def _patch(point_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    event = recorded_event("patch_point.json", point_id=point_id)
    event["body"] = json.dumps(body)
    return call(event)


def _delete(point_id: str) -> tuple[int, dict[str, Any]]:
    return call(recorded_event("delete_point.json", point_id=point_id))


def _conditional_calls(faulty: Faulty) -> RequestPredicate:
    """The write whose condition decides the outcome: the transaction (AWS) or the swap (store)."""
    return TRANSACTIONS if faulty.mode == "aws" else conditional_write


def test_create_update_delete_whose_conditional_write_lost_its_answer(faulty: Faulty) -> None:
    kind = "lost_response"
    target = _conditional_calls(faulty)
    faulty.once(kind, target)
    status, created = _create()
    assert status == 201, created
    point_id = created["point"]["point_id"]
    assert [point.point_id for point in faulty.points_file().points] == [point_id]

    faulty.once(kind, target)
    status, renamed = _patch(point_id, {"point_name": "Upper trailhead", "updated_by": "panel"})
    assert status == 200, renamed
    assert renamed["point"]["point_name"] == "Upper trailhead"
    assert faulty.points_file().get(point_id).point_name == "Upper trailhead"

    faulty.once(kind, target)
    status, deleted = _delete(point_id)
    assert status == 200, deleted
    assert faulty.points_file().points == []
    assert faulty.proxy.stats().faults[kind] == 3, "each write's conditional call was faulted once"

    audit = faulty.audit()
    assert [record["action"] for record in audit] == ["create", "update", "delete"]
    before = audit[1]["before"]
    assert json.loads(before)["point_name"] == "Trailhead" if isinstance(before, str) else before["point_name"]


def test_a_lost_answer_to_the_points_file_swap_is_recognised(faulty: Faulty) -> None:
    """The points file's own compare-and-swap (the AWS rebuild, the store's swap) loses its answer."""
    faulty.once("lost_response", conditional_write)
    status, created = _create()
    assert status == 201, created
    status, again = _create()
    assert status == 409 and again["conflict"]["reason"] == "name"
    assert len(faulty.points_file().points) == 1
    assert [record["action"] for record in faulty.audit()] == ["create"]


def test_answers_lost_for_longer_than_botocore_retries(faulty: Faulty) -> None:
    """Every send of botocore's (six, with standard retries) loses its answer: our own loop sends
    the same write again and decides by its token."""
    faulty.once("lost_response", _conditional_calls(faulty), times=6)
    status, created = _create()
    assert status == 201, created
    assert faulty.proxy.stats().faults["lost_response"] == 6
    assert [point.point_id for point in faulty.points_file().points] == [created["point"]["point_id"]]
    assert [record["action"] for record in faulty.audit()] == ["create"]


def test_botocore_resends_a_transaction_with_its_first_token(moto: str, quick_retries: None) -> None:
    """botocore fills ``ClientRequestToken`` once per call, so its own retries are idempotent on AWS."""
    boto3.client("dynamodb", endpoint_url=moto).create_table(
        TableName="probe",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with S3FaultProxy(moto, plan=FaultPlan(rate=1.0, kinds=("lost_response",), match=TRANSACTIONS, limit=1)) as proxy:
        client = boto3.client("dynamodb", endpoint_url=proxy.url)
        sent: list[str] = []
        client.meta.events.register(
            "before-send.dynamodb.TransactWriteItems",
            lambda request, **_: sent.append(json.loads(request.body)["ClientRequestToken"]),
        )
        item = {"pk": {"S": "probe"}}
        client.transact_write_items(TransactItems=[{"Put": {"TableName": "probe", "Item": item}}])
    assert len(sent) == 2 and sent[0] == sent[1]


def _scenario() -> list[Callable[[dict[str, str]], tuple[int, dict[str, Any]]]]:
    body = json.loads(recorded_event("post_points.json")["body"])
    return [
        lambda ids: _create(body),
        lambda ids: _create({**body, "point_name": "Lake", "latitude": 10.0}),
        lambda ids: _patch(ids["Trailhead"], {"point_name": "Upper trailhead", "updated_by": "panel"}),
        lambda ids: _patch(ids["Lake"], {"enabled": False, "updated_by": "panel"}),
        lambda ids: _create({**body, "point_name": "lake"}),  # a true duplicate: 409 either way
        lambda ids: _delete(ids["Trailhead"]),
        lambda ids: _create(body),
    ]


def _run_scenario(faulty: Faulty) -> tuple[list[int], list[tuple[str, str, bool]], list[str]]:
    ids: dict[str, str] = {}
    statuses = []
    for step in _scenario():
        status, answer = step(ids)
        statuses.append(status)
        if status == 201:
            ids[answer["point"]["point_name"]] = answer["point"]["point_id"]
    points = [(point.point_id, point.point_name, point.enabled) for point in faulty.points_file().points]
    return statuses, points, [record["action"] for record in faulty.audit()]


def test_a_seeded_share_of_every_fault_gives_the_clean_outcomes(faulty: Faulty, moto: str) -> None:
    faulty.proxy.plan = FaultPlan(
        rate=0.2, kinds=("slowdown", "internal", "reset", "truncate", "lost_response"), seed=18, slow_seconds=0.05
    )
    statuses, points, actions = _run_scenario(faulty)
    assert sum(faulty.proxy.stats().faults.values()) >= 5
    assert statuses == [201, 201, 200, 200, 409, 200, 201]
    assert sorted(name for _, name, _ in points) == ["Lake", "Trailhead"]
    assert [enabled for _, name, enabled in sorted(points, key=lambda item: item[1])] == [False, True]
    assert actions == ["create", "create", "update", "update", "delete", "create"]
