"""Assertions on the expanded template: bucket, tables, ALB, service, schedules, API, alarms, budget."""

from __future__ import annotations

import json
from typing import Any

import pytest

from forecast_core import layout, observability
from points_api.transactions import marker_item

from .conftest import of_type, render


def one(resources: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = of_type(resources, kind)[name]
    return found


# ---------------------------------------------------------------- bucket


def test_bucket_is_versioned_encrypted_and_private(resources: dict[str, Any]) -> None:
    bucket = one(resources, "AWS::S3::Bucket", "ArtifactBucket")
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert resources["ArtifactBucket"]["DeletionPolicy"] == "Retain"


def test_bucket_lifecycle(resources: dict[str, Any], expanded: dict[str, Any]) -> None:
    rules = {
        rule["Id"]: rule
        for rule in one(resources, "AWS::S3::Bucket", "ArtifactBucket")["LifecycleConfiguration"]["Rules"]
    }
    assert all(rule["Status"] == "Enabled" for rule in rules.values())
    forecasts = rules["expire-old-forecasts"]
    assert forecasts["Prefix"] == layout.FORECASTS_PREFIX
    assert forecasts["ExpirationInDays"] == {"Ref": "ForecastRetentionDays"}
    retention = expanded["Parameters"]["ForecastRetentionDays"]
    assert (int(retention["MinValue"]), int(retention["MaxValue"])) == (30, 90)
    assert 30 <= int(retention["Default"]) <= 90
    assert rules["expire-bucket-logs"]["Prefix"] == layout.LOGS_PREFIX
    assert "ExpirationInDays" in rules["expire-bucket-logs"]
    noncurrent = rules["expire-noncurrent-versions"]
    assert noncurrent["NoncurrentVersionExpiration"]["NoncurrentDays"] == {"Ref": "NoncurrentVersionRetentionDays"}
    assert "Prefix" not in noncurrent  # every prefix: the latest version of any object is kept
    assert noncurrent["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] >= 1
    # Only forecasts/ and logs/ expire current objects: config, status and manifests are kept.
    expiring = {rule["Prefix"] for rule in rules.values() if "ExpirationInDays" in rule}
    assert expiring == {layout.FORECASTS_PREFIX, layout.LOGS_PREFIX}


# ---------------------------------------------------------------- tables


def test_tables_keys_and_recovery(resources: dict[str, Any]) -> None:
    tables = of_type(resources, "AWS::DynamoDB::Table")
    assert set(tables) == {"PointsTable", "AuditTable", "AlertRulesTable"}
    assert tables["PointsTable"]["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    # the write markers that make a retried transaction's outcome decidable expire by TTL
    marker = marker_item("points", "token")["Put"]["Item"]
    assert "expires_at" in marker
    for table in ("PointsTable", "AlertRulesTable"):
        assert tables[table]["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert tables["AlertRulesTable"]["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert tables["AuditTable"]["KeySchema"] == [
        {"AttributeName": "point_id", "KeyType": "HASH"},
        {"AttributeName": "at", "KeyType": "RANGE"},
    ]
    for table in tables.values():
        assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["SSESpecification"]["SSEEnabled"] is True
        assert all(item["AttributeType"] == "S" for item in table["AttributeDefinitions"])


# ---------------------------------------------------------------- ALB and the dashboard service


def test_target_group_stickiness_and_health_check(resources: dict[str, Any]) -> None:
    group = one(resources, "AWS::ElasticLoadBalancingV2::TargetGroup", "AppTargetGroup")
    attributes = {item["Key"]: item["Value"] for item in group["TargetGroupAttributes"]}
    assert attributes["stickiness.enabled"] == "true"
    assert attributes["stickiness.type"] == "lb_cookie"
    assert attributes["stickiness.lb_cookie.duration_seconds"] == {"Ref": "StickinessDurationSeconds"}
    assert group["HealthCheckPath"] == "/liveness"  # the plain URL: ?endpoint= would build a document
    assert group["Matcher"] == {"HttpCode": "200"}
    assert (group["Port"], group["TargetType"]) == (5006, "ip")


def test_load_balancer_idle_timeout_suits_websockets(resources: dict[str, Any], expanded: dict[str, Any]) -> None:
    balancer = one(resources, "AWS::ElasticLoadBalancingV2::LoadBalancer", "LoadBalancer")
    attributes = {item["Key"]: item["Value"] for item in balancer["LoadBalancerAttributes"]}
    assert attributes["idle_timeout.timeout_seconds"] == {"Ref": "AlbIdleTimeoutSeconds"}
    parameter = expanded["Parameters"]["AlbIdleTimeoutSeconds"]
    bokeh_keep_alive_seconds = 37
    assert int(parameter["MinValue"]) > bokeh_keep_alive_seconds
    assert int(parameter["Default"]) >= 300


def test_https_listener_with_certificate_and_optional_auth(resources: dict[str, Any]) -> None:
    listeners = of_type(resources, "AWS::ElasticLoadBalancingV2::Listener")
    https = listeners["HttpsListener"]
    assert (https["Protocol"], https["Port"]) == ("HTTPS", 443)
    assert https["Certificates"] == [{"CertificateArn": {"Ref": "CertificateArn"}}]
    assert https["SslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    condition, with_login, without_login = https["DefaultActions"]["Fn::If"]
    assert condition == "UseAuth"
    assert [action["Type"] for action in with_login] == ["fixed-response"]  # only the login rule forwards
    assert without_login == [{"Type": "forward", "TargetGroupArn": {"Ref": "AppTargetGroup"}}]
    rules = of_type(resources, "AWS::ElasticLoadBalancingV2::ListenerRule")
    for name, kind, mode in (
        ("CognitoLoginRule", "authenticate-cognito", "UseCognito"),
        ("OidcLoginRule", "authenticate-oidc", "UseOidc"),
    ):
        rule = rules[name]
        assert resources[name]["Condition"] == mode
        assert rule["ListenerArn"] == {"Ref": "HttpsListener"}
        assert rule["Conditions"] == [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}]
        assert [action["Type"] for action in rule["Actions"]] == [kind, "forward"]
        assert rule["Actions"][0]["Order"] < rule["Actions"][1]["Order"]
    secret = rules["OidcLoginRule"]["Actions"][0]["AuthenticateOidcConfig"]["ClientSecret"]["Fn::Sub"]
    assert secret.startswith("{{resolve:secretsmanager:")  # never a literal secret
    (redirect,) = listeners["HttpListener"]["DefaultActions"]
    assert redirect["Type"] == "redirect" and redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    handle = resources["AppRoutingReady"]["Metadata"]
    assert resources["AppService"]["DependsOn"] == ["AppRoutingReady"]
    assert handle["CognitoLoginRule"]["Fn::If"][1] == {"Ref": "CognitoLoginRule"}
    assert handle["OidcLoginRule"]["Fn::If"][1] == {"Ref": "OidcLoginRule"}


def _container(resources: dict[str, Any], definition: str) -> dict[str, Any]:
    (container,) = one(resources, "AWS::ECS::TaskDefinition", definition)["ContainerDefinitions"]
    return container


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {item["Name"]: render(item["Value"]) for item in container.get("Environment", []) if "Name" in item}


def test_app_container_runs_panel_serve_as_agreed(resources: dict[str, Any]) -> None:
    app = _container(resources, "AppTaskDefinition")
    command = [render(item) for item in app["Command"]]
    assert command[:2] == ["forecast-panel", "serve"]
    options = dict(zip(command[2::2], command[3::2], strict=False))
    assert options["--store"] == "s3://${ArtifactBucket}"
    assert options["--api"].endswith("/live")
    assert options["--port"] == "5006" and options["--address"] == "0.0.0.0"
    assert command[command.index("--allow-websocket-origin") + 1] == "${PublicHostName}"
    assert command[-1] == "--use-xheaders"
    assert _env(app)["FORECAST_STORE_URL"] == "s3://${ArtifactBucket}"
    assert app["PortMappings"] == [{"ContainerPort": 5006, "Protocol": "tcp"}]
    assert app["ReadonlyRootFilesystem"] is True
    assert {item["Name"] for item in app["Secrets"]} == {"BOKEH_SECRET_KEY", "PANEL_COOKIE_SECRET"}
    service = one(resources, "AWS::ECS::Service", "AppService")
    assert service["LoadBalancers"] == [
        {"ContainerName": "app", "ContainerPort": 5006, "TargetGroupArn": {"Ref": "AppTargetGroup"}}
    ]
    assert service["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}


def test_extraction_and_inventory_containers(resources: dict[str, Any]) -> None:
    extraction = _container(resources, "ExtractionTaskDefinition")
    assert extraction["Name"] == "extraction"  # EXTRACTION_CONTAINER_NAME: the API's override targets it
    assert [render(item) for item in extraction["Command"]] == [
        "forecast-panel",
        "extract",
        "--store",
        "s3://${ArtifactBucket}",
    ]
    assert {"Name": "FORECAST_ALERTS", "Value": "off"} in extraction["Environment"]  # the alerts task evaluates
    dask = extraction["Environment"][-1]["Fn::If"]
    assert dask[0] == "HasDaskScheduler" and dask[1]["Name"] == "DASK_SCHEDULER_ADDRESS"
    inventory = _container(resources, "InventoryTaskDefinition")
    assert [render(item) for item in inventory["Command"]][:2] == ["forecast-panel", "inventory"]
    for container in (extraction, inventory):
        assert container["LogConfiguration"]["LogDriver"] == "awslogs"  # EMF lines become metrics


# ---------------------------------------------------------------- schedules


def test_extraction_schedule_follows_publication_times(resources: dict[str, Any], expanded: dict[str, Any]) -> None:
    schedules = of_type(resources, "AWS::Scheduler::Schedule")
    assert set(schedules) == {"ExtractionSchedule", "InventorySchedule", "AlertsSchedule"}
    extraction = schedules["ExtractionSchedule"]
    assert extraction["ScheduleExpression"] == {"Ref": "ExtractionScheduleExpression"}
    assert extraction["ScheduleExpressionTimezone"] == "UTC"
    default = expanded["Parameters"]["ExtractionScheduleExpression"]["Default"]
    minute, hours = default.removeprefix("cron(").split()[:2]
    run_times = [int(hour) * 60 + int(minute) for hour in hours.split(",")]
    gefs, ifs_ens = 6 * 60 + 45, 8 * 60 + 5  # dynamical.org publication, minutes after 00 UTC
    assert any(gefs <= time < ifs_ens for time in run_times)
    assert any(time >= ifs_ens for time in run_times)
    for name, definition in (
        ("ExtractionSchedule", "ExtractionTaskDefinition"),
        ("InventorySchedule", "InventoryTaskDefinition"),
        ("AlertsSchedule", "AlertsTaskDefinition"),
    ):
        target = schedules[name]["Target"]
        assert render(target["Arn"]) == "${Cluster.Arn}"
        assert target["EcsParameters"]["TaskDefinitionArn"] == {"Ref": definition}
        assert target["EcsParameters"]["LaunchType"] == "FARGATE"
        assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1


# ---------------------------------------------------------------- API and Lambda


def test_lambda_handler_environment_and_logs(resources: dict[str, Any]) -> None:
    function = one(resources, "AWS::Lambda::Function", "PointsApiFunction")
    assert function["Handler"] == "points_api.handler.lambda_handler"
    assert function["Runtime"].startswith("python3.1")
    env = function["Environment"]["Variables"]
    assert set(env) >= {
        "POINTS_TABLE_NAME",
        "AUDIT_TABLE_NAME",
        "ARTIFACT_STORE_URL",
        "DEDUPE_DISTANCE_KM",
        "MAX_BODY_BYTES",
        "EXTRACTION_CLUSTER_ARN",
        "EXTRACTION_TASK_DEFINITION_ARN",
        "EXTRACTION_SUBNETS",
        "EXTRACTION_SECURITY_GROUPS",
        "EXTRACTION_CONTAINER_NAME",
    }
    assert env["POWERTOOLS_SERVICE_NAME"] == "points-api"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == observability.NAMESPACE
    assert env["EXTRACTION_CONTAINER_NAME"] == _container(resources, "ExtractionTaskDefinition")["Name"]
    assert render(env["ARTIFACT_STORE_URL"]) == "s3://${ArtifactBucket}"
    assert function["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasReservedConcurrency", {"Ref": "LambdaReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "PointsApiLogGroup"}


def test_api_uses_iam_auth_and_throttling(resources: dict[str, Any]) -> None:
    body = one(resources, "AWS::ApiGateway::RestApi", "PointsApi")["Body"]
    operations = [operation for path in body["paths"].values() for operation in path.values()]
    assert len(operations) == 2  # ANY / and ANY /{proxy+}: the Powertools resolver routes
    for operation in operations:
        assert operation["security"] == [{"AWS_IAM": []}]
        integration = operation["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy"
        assert "credentials" not in integration  # invoked via the Lambda permission, not caller credentials
    assert body["securityDefinitions"]["AWS_IAM"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    permissions = of_type(resources, "AWS::Lambda::Permission")
    assert {item["Principal"] for item in permissions.values()} == {"apigateway.amazonaws.com"}
    (stage,) = of_type(resources, "AWS::ApiGateway::Stage").values()
    assert stage["StageName"] == "live"
    (settings,) = stage["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ApiThrottleBurstLimit"}
    assert render(stage["AccessLogSetting"]["DestinationArn"]) == "${ApiAccessLogGroup.Arn}"


def test_every_log_group_has_retention(resources: dict[str, Any]) -> None:
    groups = of_type(resources, "AWS::Logs::LogGroup")
    assert len(groups) == 4
    for group in groups.values():
        assert group["RetentionInDays"] == {"Ref": "LogGroupRetentionDays"}
        assert "KmsKeyId" in group


# ---------------------------------------------------------------- alarms and budget


def test_alarms_watch_the_shared_metric_names(resources: dict[str, Any]) -> None:
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    custom = {name: alarm for name, alarm in alarms.items() if alarm.get("Namespace") == observability.NAMESPACE}
    assert {alarm["MetricName"] for alarm in custom.values()} == {
        observability.EXTRACTION_SUCCESS,
        observability.DATA_AGE_HOURS,
    }
    failed, missing = custom["ExtractionFailedAlarm"], custom["ExtractionMissingAlarm"]
    assert (failed["Statistic"], failed["ComparisonOperator"], failed["Threshold"]) == (
        "Minimum",
        "LessThanThreshold",
        1,
    )
    assert missing["TreatMissingData"] == "breaching"
    assert missing["Period"] == {"Ref": "ExtractionAlarmPeriodSeconds"}
    stale = custom["StaleDataAlarm"]
    assert (stale["ComparisonOperator"], stale["Threshold"]) == (
        "GreaterThanThreshold",
        {"Ref": "StaleDataThresholdHours"},
    )
    assert {alarm["MetricName"] for alarm in alarms.values() if alarm["Namespace"] == "AWS/Lambda"} == {"Errors"}
    assert {alarm["MetricName"] for alarm in alarms.values() if alarm["Namespace"] == "AWS/ApiGateway"} == {"5XXError"}
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}]


def test_alarm_dimensions_match_what_the_extraction_emits(resources: dict[str, Any]) -> None:
    # An alarm matches a metric only with exactly the dimensions of the EMF line the extraction
    # prints (extraction/metrics.py, emit_run_metrics): read them from a real line.
    import io

    from extraction.metrics import EXTRACTION_SERVICE

    line = observability.emit_metrics({"ExtractionSuccess": (1.0, "Count")}, service=EXTRACTION_SERVICE,
                                      stream=io.StringIO())  # fmt: skip
    emitted = json.loads(line)
    (dimension_names,) = emitted["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    expected = [{"Name": name, "Value": emitted[name]} for name in dimension_names]
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    custom = [alarm for alarm in alarms.values() if alarm["Namespace"] == observability.NAMESPACE]
    assert custom
    for alarm in custom:
        assert alarm["Dimensions"] == expected


def test_budget_notifies_at_50_80_100_percent(resources: dict[str, Any]) -> None:
    budget = one(resources, "AWS::Budgets::Budget", "MonthlyBudget")
    assert budget["Budget"]["BudgetLimit"] == {"Amount": {"Ref": "BudgetLimitUsd"}, "Unit": "USD"}
    assert (budget["Budget"]["BudgetType"], budget["Budget"]["TimeUnit"]) == ("COST", "MONTHLY")
    actual = [
        item for item in budget["NotificationsWithSubscribers"] if item["Notification"]["NotificationType"] == "ACTUAL"
    ]
    assert sorted(item["Notification"]["Threshold"] for item in actual) == [50, 80, 100]
    for item in budget["NotificationsWithSubscribers"]:
        assert item["Notification"]["ThresholdType"] == "PERCENTAGE"
        assert {"SubscriptionType": "EMAIL", "Address": {"Ref": "AlertEmail"}} in item["Subscribers"]


@pytest.mark.parametrize(
    ("sam_type", "cloudformation_type"),
    [("AWS::Serverless::Function", "AWS::Lambda::Function"), ("AWS::Serverless::Api", "AWS::ApiGateway::RestApi")],
)
def test_no_sam_types_survive_the_transform(resources: dict[str, Any], sam_type: str, cloudformation_type: str) -> None:
    assert not of_type(resources, sam_type)
    assert of_type(resources, cloudformation_type)


def test_network_paths_are_narrow(resources: dict[str, Any]) -> None:
    groups = of_type(resources, "AWS::EC2::SecurityGroup")
    assert "SecurityGroupIngress" not in groups["ExtractionSecurityGroup"]
    assert "SecurityGroupIngress" not in groups["AppSecurityGroup"]
    for name in ("AlbSecurityGroup", "AppSecurityGroup", "ExtractionSecurityGroup"):
        egress = groups[name]["SecurityGroupEgress"]  # declared, so no default allow-all egress
        assert {(rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) for rule in egress} == {("tcp", 443, 443)}
    (ingress,) = of_type(resources, "AWS::EC2::SecurityGroupIngress").values()
    assert (ingress["FromPort"], ingress["ToPort"]) == (5006, 5006)
    assert ingress["SourceSecurityGroupId"] == {"Ref": "AlbSecurityGroup"}
    assert ingress["GroupId"] == {"Ref": "AppSecurityGroup"}


def test_api_logging_waits_for_the_account_role(resources: dict[str, Any]) -> None:
    # Stage → Deployment → RestApi → ApiLoggingReady → ApiGatewayAccount (when the stack creates it).
    assert resources["PointsApi"]["DependsOn"] == "ApiLoggingReady"
    handle = resources["ApiLoggingReady"]
    assert handle["Metadata"]["ApiGatewayAccount"]["Fn::If"][:2] == [
        "CreateApiGatewayAccount",
        {"Ref": "ApiGatewayAccount"},
    ]
    (stage,) = of_type(resources, "AWS::ApiGateway::Stage").values()
    assert "DeploymentId" in stage


# ---------------------------------------------------------------- alert rules


def test_each_publish_starts_the_alerts_task(resources: dict[str, Any]) -> None:
    bucket = one(resources, "AWS::S3::Bucket", "ArtifactBucket")
    assert bucket["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    rule = one(resources, "AWS::Events::Rule", "AlertsOnPublishRule")
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"] == {"bucket": {"name": [{"Ref": "ArtifactBucket"}]},
                                 "object": {"key": [layout.LATEST_MANIFEST_KEY]}}  # fmt: skip
    (target,) = rule["Targets"]
    assert render(target["Arn"]) == "${Cluster.Arn}" and render(target["RoleArn"]) == "${AlertsTriggerRole.Arn}"
    assert target["EcsParameters"]["TaskDefinitionArn"] == {"Ref": "AlertsTaskDefinition"}
    assert target["EcsParameters"]["LaunchType"] == "FARGATE" and target["RetryPolicy"]["MaximumRetryAttempts"] >= 1


def test_alerts_container_and_topic(resources: dict[str, Any]) -> None:
    container = _container(resources, "AlertsTaskDefinition")
    assert [render(item) for item in container["Command"]] == [
        "forecast-panel", "alerts", "evaluate", "--store", "s3://${ArtifactBucket}"
    ]  # fmt: skip
    environment = {item["Name"]: item["Value"] for item in container["Environment"]}
    assert environment["FORECAST_ALERTS_TOPIC_ARN"] == {"Ref": "RuleAlertsTopic"}
    assert container["LogConfiguration"]["LogDriver"] == "awslogs" and container["ReadonlyRootFilesystem"] is True
    topic = one(resources, "AWS::SNS::Topic", "RuleAlertsTopic")
    assert topic["KmsMasterKeyId"] == {"Ref": "StackKey"}
    subscriptions = {name: body for name, body in resources.items() if body["Type"] == "AWS::SNS::Subscription"}
    assert {name: (body["Condition"], body["Properties"]["Protocol"]) for name, body in subscriptions.items()} == {
        "RuleAlertsEmailSubscription": ("HasRuleAlertsEmail", "email"),
        "RuleAlertsHttpsSubscription": ("HasRuleAlertsHttps", "https"),
    }
    function = one(resources, "AWS::Lambda::Function", "PointsApiFunction")
    assert function["Environment"]["Variables"]["ALERT_RULES_TABLE_NAME"] == {"Ref": "AlertRulesTable"}
