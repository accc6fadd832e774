"""The evaluation in AWS mode on the moto server: the store in S3, notifications through SNS to an
HTTP(S) subscriber (a loopback server) and an e-mail subscriber, filter policies honoured, and a
retried evaluation that publishes nothing twice."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from forecast_alerts.cli import notifier_for
from forecast_alerts.run import evaluate_latest
from forecast_core.alert_status import AlertsStatus
from forecast_core.layout import ALERTS_STATUS_KEY
from forecast_core.store import ArtifactStore
from tests.alerts.conftest import COLD, RAIN, Webhook

pytestmark = pytest.mark.aws


def upload(folder: Path, bucket: str, endpoint: str) -> ArtifactStore:
    """The store's config and published run in ``s3://bucket/store``, without alert state."""
    s3 = boto3.client("s3", endpoint_url=endpoint)
    for path in folder.rglob("*"):
        key = path.relative_to(folder).as_posix()
        skipped = key.startswith(("alerts/", "logs/")) or ".lock" in key or key == ALERTS_STATUS_KEY
        if path.is_file() and not skipped:
            s3.put_object(Bucket=bucket, Key=f"store/{key}", Body=path.read_bytes())
    return ArtifactStore(f"s3://{bucket}/store", endpoint_url=endpoint)


def sent_through_moto(topic_arn: str) -> list[tuple[str, str, str]]:
    """(message id, message, subject) of every publish moto recorded on the topic (same process)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    topic = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].topics[topic_arn]
    return [(item[0], item[1], item[2]) for item in topic.sent_notifications]


def test_sns_delivers_each_notification_once(
    evaluated_store: Path, s3_bucket: str, moto: str, webhook: Webhook
) -> None:
    store = upload(evaluated_store, s3_bucket, moto)
    sns = boto3.client("sns", endpoint_url=moto)
    topic = sns.create_topic(Name="forecast-panel-test-rule-alerts")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="someone@example.com")
    sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=webhook.url)
    sns.subscribe(
        TopicArn=topic,
        Protocol="http",
        Endpoint=f"{webhook.url}/charlie-only",
        Attributes={"FilterPolicy": json.dumps({"point_id": ["charlie"]})},
    )
    report = evaluate_latest(store, notifier_for(store, topic, None))
    assert report.deliveries == {"sent": 2}
    published = sent_through_moto(topic)
    assert len(published) == 2
    envelopes = [body for _, body in webhook.received]
    assert len(envelopes) == 2, "the filter policy kept alpha's notifications from the charlie-only subscriber"
    messages = {json.loads(item["Message"])["rule_id"]: json.loads(item["Message"]) for item in envelopes}
    assert set(messages) == {RAIN, COLD} and messages[RAIN]["point_name"] == "Alpha"
    assert all(item["Subject"].startswith("[forecast-panel] Alpha") for item in envelopes)
    email_text = json.loads(published[0][1])["email"]
    assert "is now true for Alpha" in email_text
    status = store.read_model(ALERTS_STATUS_KEY, AlertsStatus)
    records = {item.rule_id: item for item in status.rules}
    assert records[RAIN].delivery == "sent"

    store.delete(ALERTS_STATUS_KEY)  # a retry after a stop before the status was written
    retry = evaluate_latest(store, notifier_for(store, topic, None))
    assert retry.deliveries == {"already_sent": 2}
    assert len(sent_through_moto(topic)) == 2 and len(webhook.received) == 2


def test_a_missing_topic_is_a_failed_delivery(evaluated_store: Path, s3_bucket: str, moto: str) -> None:
    store = upload(evaluated_store, s3_bucket, moto)
    missing = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
    report = evaluate_latest(store, notifier_for(store, missing, None))
    assert report.deliveries == {"failed": 2} and report.exit_code == 1
