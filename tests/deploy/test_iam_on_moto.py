"""The template's S3 statements, enforced by moto: each role reaches exactly its prefixes.

moto checks S3 requests against IAM policies with real bucket/key ARNs (other services are
authorised against ``*``, and statements with a Condition never match), so this test uses the
unconditional S3 statements of each role, attached to an IAM user per role. The expectations are
written from ``forecast_core.layout``, independently of the template.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from forecast_core import layout

from .conftest import as_list, of_type, render

pytestmark = pytest.mark.aws

KEYS = {
    "forecast": "forecasts/source=gefs/variable=t2m/init_date=2026-11-24/points.parquet",
    "latest": layout.LATEST_MANIFEST_KEY,
    "status": layout.EXTRACTION_STATUS_KEY,
    "points": layout.PRE_CANNED_POINTS_KEY,
    "registry": layout.SOURCE_REGISTRY_KEY,
    "run_log": "logs/extraction/20261124T070000Z.jsonl",
    "api_log": layout.POINTS_AUDIT_LOG_KEY,
    "rules": layout.ALERT_RULES_KEY,
    "alerts_status": layout.ALERTS_STATUS_KEY,
    "alert_record": layout.notification_key("20261124T070000Z", "rule-0123456789ab"),
    "elsewhere": "other/object.txt",
}

# role → (keys it may read, keys it may write)
EXPECTED = {
    "AppTaskRole": ({"forecast", "latest", "status", "points", "registry", "rules", "alerts_status"}, set()),
    "ExtractionTaskRole": (
        {"forecast", "latest", "status", "points", "registry", "run_log", "rules", "alerts_status"},
        {"forecast", "latest", "status", "run_log", "alerts_status"},
    ),
    "PointsApiRole": ({"points", "rules", "registry"}, {"points", "rules"}),
    "AlertsTaskRole": (
        {"forecast", "latest", "status", "points", "registry", "rules", "alerts_status", "alert_record"},
        {"alerts_status", "alert_record"},
    ),
}


def s3_statements(role: dict[str, Any], bucket: str) -> list[dict[str, Any]]:
    """The role's unconditional S3 statements with the bucket ARN filled in."""
    found = []
    for policy in role["Policies"]:
        for statement in as_list(policy["PolicyDocument"]["Statement"]):
            actions = [action for action in as_list(statement["Action"]) if action.startswith("s3:")]
            if not actions or "Condition" in statement:
                continue
            resources = [
                str(render(item)).replace("${ArtifactBucket.Arn}", f"arn:aws:s3:::{bucket}")
                for item in as_list(statement["Resource"])
            ]
            found.append({"Effect": "Allow", "Action": actions, "Resource": resources})
    return found


def set_auth_count(endpoint: str, count: str) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth", data=count.encode(), method="POST", headers={"Content-Type": "text/plain"}
    )
    urllib.request.urlopen(request, timeout=60).close()  # a hang guard only


@pytest.fixture
def enforced(moto: str) -> Iterator[str]:
    """Turn moto's IAM enforcement on after the set-up calls; always turn it off again."""
    yield moto
    set_auth_count(moto, "inf")


def allowed(client: Any, operation: str, **kwargs: Any) -> bool:
    try:
        response = getattr(client, operation)(**kwargs)
        if "Body" in response:
            response["Body"].read()
    except ClientError as error:
        assert error.response["Error"]["Code"] == "AccessDenied", error.response["Error"]
        return False
    return True


def test_each_role_reaches_exactly_its_prefixes(enforced: str, resources: dict[str, Any]) -> None:
    roles = of_type(resources, "AWS::IAM::Role")
    bucket = f"artifacts-{uuid.uuid4().hex[:10]}"
    admin = boto3.client("s3", endpoint_url=enforced, region_name="us-east-1")
    admin.create_bucket(Bucket=bucket)
    for key in KEYS.values():
        admin.put_object(Bucket=bucket, Key=key, Body=b"{}")
    iam = boto3.client("iam", endpoint_url=enforced, region_name="us-east-1")
    clients = {}
    for role_name in EXPECTED:
        user = f"{role_name}-{uuid.uuid4().hex[:6]}"
        iam.create_user(UserName=user)
        document = {"Version": "2012-10-17", "Statement": s3_statements(roles[role_name], bucket)}
        iam.put_user_policy(UserName=user, PolicyName="from-template", PolicyDocument=json.dumps(document))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        clients[role_name] = boto3.client(
            "s3",
            endpoint_url=enforced,
            region_name="us-east-1",
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
            aws_session_token=None,
        )

    set_auth_count(enforced, "0")
    for role_name, (reads, writes) in EXPECTED.items():
        client = clients[role_name]
        for name, key in KEYS.items():
            can_read = allowed(client, "get_object", Bucket=bucket, Key=key)
            can_write = allowed(client, "put_object", Bucket=bucket, Key=key, Body=b"{}")
            assert can_read == (name in reads), f"{role_name} read {key}: {can_read}"
            assert can_write == (name in writes), f"{role_name} write {key}: {can_write}"
