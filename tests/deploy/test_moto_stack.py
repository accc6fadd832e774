"""Smoke: the expanded template creates on moto's CloudFormation (the subset moto implements).

moto skips resource types it does not implement (with a log line only), so the test pins the set of
skipped types: a new resource of an unsupported type must be added to ``MOTO_SKIPS`` knowingly.
The API Gateway deployment and stage are left out because moto does not import a REST API's
OpenAPI ``Body`` into methods. This proves references and intrinsics resolve and that S3, DynamoDB,
ECS and ELB accept the properties — not that AWS would deploy the stack.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from typing import Any

import boto3
import pytest

from .conftest import offline_checks

pytestmark = [pytest.mark.aws, pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")]

MOTO_SKIPS = {
    "AWS::ApiGateway::Account",
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::Budgets::Budget",
    "AWS::CloudFormation::WaitConditionHandle",
    "AWS::CloudWatch::Alarm",
    "AWS::EC2::SecurityGroupEgress",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::Scheduler::Schedule",
    "AWS::SecretsManager::Secret",
}
LEFT_OUT = {"AWS::ApiGateway::Deployment", "AWS::ApiGateway::Stage"}
# no Dask address, AuthMode none, no rule-alert subscribers
CONDITIONAL_OFF = {
    "ExtractionEgressToDask",
    "CognitoLoginRule",
    "OidcLoginRule",
    "RuleAlertsEmailSubscription",
    "RuleAlertsHttpsSubscription",
}


def _stub_code(client: Any) -> None:
    bucket, key = offline_checks.STUB_CODE_URI.removeprefix("s3://").split("/", 1)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("points_api/handler.py", "def lambda_handler(event, context):\n    return {}\n")
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key=key, Body=archive.getvalue())


def _parameters(endpoint: str) -> dict[str, str]:
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{index}.0/24", AvailabilityZone=f"us-east-1{'ab'[index % 2]}")[
            "Subnet"
        ]["SubnetId"]
        for index in range(4)
    ]
    acm = boto3.client("acm", endpoint_url=endpoint, region_name="us-east-1")
    certificate = acm.request_certificate(DomainName="forecast.example.org")["CertificateArn"]
    return {
        "EnvironmentName": "dev",
        "VpcId": vpc,
        "PublicSubnetIds": ",".join(subnets[:2]),
        "PrivateSubnetIds": ",".join(subnets[2:]),
        "CertificateArn": certificate,
        "PublicHostName": "forecast.example.org",
        "AlertEmail": "alerts@example.org",
        "AppImageTag": "test",
        "ExtractionImageTag": "test",
    }


def test_stack_creates_on_moto(moto: str, expanded: dict[str, Any]) -> None:
    template = json.loads(json.dumps(expanded))
    for name in [name for name, body in template["Resources"].items() if body["Type"] in LEFT_OUT]:
        del template["Resources"][name]
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    _stub_code(s3)
    parameters = _parameters(moto)
    cloudformation = boto3.client("cloudformation", endpoint_url=moto, region_name="us-east-1")
    stack = f"forecast-panel-{uuid.uuid4().hex[:6]}"
    cloudformation.create_stack(
        StackName=stack,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    (description,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    assert description["StackStatus"] == "CREATE_COMPLETE", description.get("StackStatusReason")

    created = {
        item["LogicalResourceId"]: item
        for item in cloudformation.list_stack_resources(StackName=stack)["StackResourceSummaries"]
    }
    missing = set(template["Resources"]) - set(created) - CONDITIONAL_OFF
    assert {template["Resources"][name]["Type"] for name in missing} == MOTO_SKIPS

    # moto's CloudFormation applies only a bucket's encryption and tags (versioning and lifecycle
    # are asserted on the template in test_resources.py).
    bucket = created["ArtifactBucket"]["PhysicalResourceId"]
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert encryption["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    dynamodb = boto3.client("dynamodb", endpoint_url=moto, region_name="us-east-1")
    table = dynamodb.describe_table(TableName=created["PointsTable"]["PhysicalResourceId"])["Table"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
