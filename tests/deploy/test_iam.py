"""Least privilege: every IAM statement of the expanded template against the access matrix.

The matrix is written from ``forecast_core.layout`` so a prefix renamed there shows up here. Each
role's granted (action → resources) must equal its row exactly: a new action, a wider resource or a
new role all fail until the matrix (and the review it stands for) is updated.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from forecast_core import layout

from .conftest import as_list, of_type, render

BUCKET = "${ArtifactBucket.Arn}"
ACCOUNT = "${AWS::Partition}:{service}:${AWS::Region}:${AWS::AccountId}"
EXTRACTION_FAMILY = (
    "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-definition/"
    "forecast-panel-${EnvironmentName}-extraction:*"
)
INVENTORY_FAMILY = EXTRACTION_FAMILY.replace("-extraction:*", "-inventory:*")
ALERTS_FAMILY = EXTRACTION_FAMILY.replace("-extraction:*", "-alerts:*")
EXTRACTION_ROLES = {"${ExtractionTaskRole.Arn}", "${TaskExecutionRole.Arn}"}
ALERTS_ROLES = {"${AlertsTaskRole.Arn}", "${TaskExecutionRole.Arn}"}


def objects(*prefixes: str) -> set[str]:
    return {f"{BUCKET}/{prefix}*" for prefix in prefixes}


APP_READS = objects(layout.FORECASTS_PREFIX, layout.MANIFESTS_PREFIX, layout.DASHBOARD_PREFIX)
EXTRACTION_WRITES = objects(
    layout.FORECASTS_PREFIX, layout.MANIFESTS_PREFIX, layout.STATUS_PREFIX, layout.EXTRACTION_LOGS_PREFIX
)
EXTRACTION_READS = objects(
    layout.FORECASTS_PREFIX, layout.MANIFESTS_PREFIX, layout.DASHBOARD_PREFIX, layout.EXTRACTION_LOGS_PREFIX
)
POINTS_JSON = {f"{BUCKET}/{layout.PRE_CANNED_POINTS_KEY}"}
API_JSON = {f"{BUCKET}/{key}" for key in (layout.PRE_CANNED_POINTS_KEY, layout.ALERT_RULES_KEY)}
API_READS = API_JSON | {f"{BUCKET}/{key}" for key in (layout.SOURCE_REGISTRY_KEY, layout.CANONICAL_VARIABLES_KEY)}
ALERTS_READS = objects(layout.FORECASTS_PREFIX, layout.MANIFESTS_PREFIX, layout.DASHBOARD_PREFIX, layout.ALERTS_PREFIX)
ALERTS_WRITES = objects(layout.ALERTS_PREFIX) | {f"{BUCKET}/{layout.ALERTS_STATUS_KEY}"}

MATRIX: dict[str, dict[str, set[str]]] = {
    "AppTaskRole": {
        "s3:GetObject": APP_READS,
        "s3:GetObjectVersion": APP_READS,  # a manifest may pin an artifact's version_id
        "s3:ListBucket": {BUCKET},
        "execute-api:Invoke": {
            "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${PointsApi}/live/*/*"
        },
    },
    "ExtractionTaskRole": {
        "s3:GetObject": EXTRACTION_READS,
        "s3:GetObjectVersion": EXTRACTION_READS,
        "s3:PutObject": EXTRACTION_WRITES,
        "s3:DeleteObject": EXTRACTION_WRITES,
        "s3:AbortMultipartUpload": EXTRACTION_WRITES,
        "s3:ListBucket": {BUCKET},
        "s3:ListBucketVersions": {BUCKET},
    },
    "PointsApiRole": {
        "logs:CreateLogStream": {"${PointsApiLogGroup.Arn}"},
        "logs:PutLogEvents": {"${PointsApiLogGroup.Arn}"},
        **{
            f"dynamodb:{action}": {"${PointsTable.Arn}", "${AlertRulesTable.Arn}"}
            for action in ("UpdateItem", "DeleteItem", "ConditionCheckItem", "Scan")
        },
        **{
            f"dynamodb:{action}": {"${PointsTable.Arn}", "${AuditTable.Arn}", "${AlertRulesTable.Arn}"}
            for action in ("GetItem", "PutItem")
        },
        "dynamodb:Query": {"${PointsTable.Arn}", "${AuditTable.Arn}"},
        "s3:GetObject": API_READS,  # the rules' checks read the registry and the variables
        "s3:PutObject": API_JSON,
        "s3:ListBucket": {BUCKET},  # only to get 404 (not 403) for a missing points file
        "ecs:RunTask": {EXTRACTION_FAMILY},
        "iam:PassRole": EXTRACTION_ROLES,
    },
    "TaskExecutionRole": {
        "ecr:GetAuthorizationToken": {"*"},
        **{
            action: {
                "arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/${AppImageRepository}",
                "arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/${ExtractionImageRepository}",
            }
            for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")
        },
        "logs:CreateLogStream": {"${AppLogGroup.Arn}", "${ExtractionLogGroup.Arn}"},
        "logs:PutLogEvents": {"${AppLogGroup.Arn}", "${ExtractionLogGroup.Arn}"},
        "secretsmanager:GetSecretValue": {"${AppSecret}"},
        "kms:Decrypt": {"${StackKey.Arn}"},
    },
    "SchedulerRole": {
        "ecs:RunTask": {EXTRACTION_FAMILY, INVENTORY_FAMILY, ALERTS_FAMILY},
        "iam:PassRole": EXTRACTION_ROLES | ALERTS_ROLES,
    },
    "AlertsTaskRole": {
        "s3:GetObject": ALERTS_READS,
        "s3:PutObject": ALERTS_WRITES,
        "s3:ListBucket": {BUCKET},
        "sns:Publish": {"${RuleAlertsTopic}"},
        "kms:GenerateDataKey": {"${StackKey.Arn}"},  # the topic is encrypted with the stack key
        "kms:Decrypt": {"${StackKey.Arn}"},
    },
    "AlertsTriggerRole": {
        "ecs:RunTask": {ALERTS_FAMILY},
        "iam:PassRole": ALERTS_ROLES,
    },
    "ApiGatewayCloudWatchRole": {
        action: {"arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"}
        for action in (
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:DescribeLogGroups",
            "logs:DescribeLogStreams",
            "logs:PutLogEvents",
            "logs:GetLogEvents",
            "logs:FilterLogEvents",
        )
    },
}

# Actions AWS does not scope to a resource: the only place a "*" resource is accepted.
UNSCOPABLE_ACTIONS = {"ecr:GetAuthorizationToken"}


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in role.get("Policies", []):
        found += as_list(policy["PolicyDocument"]["Statement"])
    return found


def granted(role: dict[str, Any]) -> dict[str, set[str]]:
    grants: dict[str, set[str]] = defaultdict(set)
    for statement in statements(role):
        for action in as_list(statement["Action"]):
            grants[action] |= {str(render(item)) for item in as_list(statement["Resource"])}
    return dict(grants)


@pytest.fixture(scope="module")
def roles(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return of_type(resources, "AWS::IAM::Role")


def test_every_role_is_in_the_matrix(roles: dict[str, dict[str, Any]]) -> None:
    assert set(roles) == set(MATRIX)


@pytest.mark.parametrize("role_name", sorted(MATRIX))
def test_role_grants_exactly_its_matrix_row(roles: dict[str, dict[str, Any]], role_name: str) -> None:
    role = roles[role_name]
    assert not role.get("ManagedPolicyArns"), "managed policies are not reviewed here: use inline statements"
    for statement in statements(role):
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement and "NotResource" not in statement
    assert granted(role) == MATRIX[role_name]


def test_no_wildcard_resource_where_an_arn_will_do(roles: dict[str, dict[str, Any]]) -> None:
    for name, role in roles.items():
        for statement in statements(role):
            resources = {str(render(item)) for item in as_list(statement["Resource"])}
            if "*" in resources:
                assert set(as_list(statement["Action"])) <= UNSCOPABLE_ACTIONS, (name, statement)
            for action in as_list(statement["Action"]):
                assert "*" not in action.split(":", 1)[1], f"{name}: wildcard action {action}"


def test_roles_trust_only_their_service_in_this_account(roles: dict[str, dict[str, Any]]) -> None:
    services = {
        "AppTaskRole": "ecs-tasks.amazonaws.com",
        "ExtractionTaskRole": "ecs-tasks.amazonaws.com",
        "TaskExecutionRole": "ecs-tasks.amazonaws.com",
        "PointsApiRole": "lambda.amazonaws.com",
        "SchedulerRole": "scheduler.amazonaws.com",
        "AlertsTaskRole": "ecs-tasks.amazonaws.com",
        "AlertsTriggerRole": "events.amazonaws.com",
        "ApiGatewayCloudWatchRole": "apigateway.amazonaws.com",
    }
    for name, role in roles.items():
        (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": services[name]}
        assert trust["Action"] == "sts:AssumeRole"
        assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def _statement(role: dict[str, Any], action: str) -> dict[str, Any]:
    (found,) = [item for item in statements(role) if action in as_list(item["Action"])]
    return found


def test_listing_is_limited_by_prefix(roles: dict[str, dict[str, Any]]) -> None:
    # IfExists: S3 checks ListBucket (without a prefix) to answer 404 rather than 403 for a missing
    # key, which the store maps to ArtifactNotFound; real list calls stay limited to the prefixes.
    condition = _statement(roles["AppTaskRole"], "s3:ListBucket")["Condition"]
    assert set(condition) == {"StringLikeIfExists"}
    assert set(condition["StringLikeIfExists"]["s3:prefix"]) == {
        f"{prefix}*" for prefix in (layout.FORECASTS_PREFIX, layout.MANIFESTS_PREFIX, layout.DASHBOARD_PREFIX)
    }
    condition = _statement(roles["PointsApiRole"], "s3:ListBucket")["Condition"]
    config = {layout.PRE_CANNED_POINTS_KEY, layout.ALERT_RULES_KEY, layout.SOURCE_REGISTRY_KEY,
              layout.CANONICAL_VARIABLES_KEY}  # fmt: skip
    assert set(condition) == {"StringEqualsIfExists"} and set(condition["StringEqualsIfExists"]["s3:prefix"]) == config
    condition = _statement(roles["AlertsTaskRole"], "s3:ListBucket")["Condition"]
    assert condition == {"StringLikeIfExists": {"s3:prefix": [f"{layout.ALERTS_PREFIX}*"]}}


@pytest.mark.parametrize("role_name", ["PointsApiRole", "SchedulerRole", "AlertsTriggerRole"])
def test_run_task_is_pinned_to_the_cluster_and_pass_role_to_ecs(
    roles: dict[str, dict[str, Any]], role_name: str
) -> None:
    run_task = _statement(roles[role_name], "ecs:RunTask")
    assert run_task["Condition"] == {"ArnEquals": {"ecs:cluster": {"Fn::GetAtt": ["Cluster", "Arn"]}}}
    pass_role = _statement(roles[role_name], "iam:PassRole")
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}


def test_task_definitions_use_the_matching_roles(resources: dict[str, Any]) -> None:
    definitions = of_type(resources, "AWS::ECS::TaskDefinition")
    assert render(definitions["AppTaskDefinition"]["TaskRoleArn"]) == "${AppTaskRole.Arn}"
    for name in ("ExtractionTaskDefinition", "InventoryTaskDefinition"):
        assert render(definitions[name]["TaskRoleArn"]) == "${ExtractionTaskRole.Arn}"
    assert render(definitions["AlertsTaskDefinition"]["TaskRoleArn"]) == "${AlertsTaskRole.Arn}"
    for body in definitions.values():
        assert render(body["ExecutionRoleArn"]) == "${TaskExecutionRole.Arn}"
    function = of_type(resources, "AWS::Lambda::Function")["PointsApiFunction"]
    assert render(function["Role"]) == "${PointsApiRole.Arn}"


def test_bucket_policy_denies_insecure_transport(resources: dict[str, Any]) -> None:
    policy = of_type(resources, "AWS::S3::BucketPolicy")["ArtifactBucketPolicy"]["PolicyDocument"]
    deny = [item for item in policy["Statement"] if item["Effect"] == "Deny"]
    assert {"Bool": {"aws:SecureTransport": "false"}} in [item["Condition"] for item in deny]
    assert all(item["Principal"] == "*" and item["Action"] == "s3:*" for item in deny)
    assert not [item for item in policy["Statement"] if item["Effect"] == "Allow"]
