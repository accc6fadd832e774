"""AWS-mode set-up on the moto server: tables, bucket, ECS task, environment; recorded events."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from points_api.local_server import FakeLambdaContext

EVENTS = Path(__file__).parent / "events"
STORE_PREFIX = "store"


@dataclass
class AwsApi:
    endpoint: str
    bucket: str
    points_table: str
    audit_table: str
    cluster_arn: str
    run_task_calls: list[Any] = field(default_factory=list)

    @property
    def store_url(self) -> str:
        return f"s3://{self.bucket}/{STORE_PREFIX}"


def create_aws_resources(endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch) -> AwsApi:
    """The tables and ECS task the SAM template declares, and the Lambda's environment."""
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint)
    dynamodb.create_table(
        TableName="points",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.create_table(
        TableName="points-audit",
        AttributeDefinitions=[
            {"AttributeName": "point_id", "AttributeType": "S"},
            {"AttributeName": "at", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "point_id", "KeyType": "HASH"}, {"AttributeName": "at", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.create_table(
        TableName="alert-rules",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ec2 = boto3.client("ec2", endpoint_url=endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="extract", Description="extraction task", VpcId=vpc)["GroupId"]
    ecs = boto3.client("ecs", endpoint_url=endpoint)
    cluster_arn = ecs.create_cluster(clusterName="extraction")["cluster"]["clusterArn"]
    task = ecs.register_task_definition(
        family="extract",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="1024",
        memory="4096",
        containerDefinitions=[
            {"name": "extract", "image": "forecast-panel:latest", "essential": True, "memory": 4096, "cpu": 1024}
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    environment = {
        "POINTS_TABLE_NAME": "points",
        "AUDIT_TABLE_NAME": "points-audit",
        "ALERT_RULES_TABLE_NAME": "alert-rules",
        "ARTIFACT_STORE_URL": f"s3://{bucket}/{STORE_PREFIX}",
        "EXTRACTION_CLUSTER_ARN": cluster_arn,
        "EXTRACTION_TASK_DEFINITION_ARN": task,
        "EXTRACTION_SUBNETS": subnet,
        "EXTRACTION_SECURITY_GROUPS": group,
        "EXTRACTION_CONTAINER_NAME": "extract",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return AwsApi(endpoint, bucket, "points", "points-audit", cluster_arn)


def recorded_event(name: str, body: dict[str, Any] | None = None, point_id: str | None = None) -> dict[str, Any]:
    """A recorded API Gateway REST proxy event, with its body and/or point id replaced."""
    event: dict[str, Any] = copy.deepcopy(json.loads((EVENTS / name).read_text()))
    if body is not None:
        event["body"] = json.dumps(body)
    if point_id is not None:
        event["path"] = f"/points/{point_id}"
        event["pathParameters"] = {"point_id": point_id}
        event["requestContext"]["path"] = f"/prod/points/{point_id}"
    return event


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The handler's answer to ``event``: status and decoded JSON body."""
    from points_api.handler import lambda_handler

    response = lambda_handler(event, FakeLambdaContext(aws_request_id=event["requestContext"]["requestId"]))
    return int(response["statusCode"]), json.loads(response["body"])
