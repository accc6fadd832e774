"""Where notifications go: SNS in AWS (its email and HTTPS subscriptions), a log and an optional
webhook locally. Each notifier's ``send`` returns message ids, raises ``DeliveryFailed`` when the
channel refused for certain, and any other exception when the outcome is unknown
(``forecast_alerts.ledger`` decides what each means for a retry).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
import uuid
from typing import Any, Protocol

from forecast_alerts.ledger import DeliveryFailed
from forecast_core.alert_status import NotificationRecord
from forecast_core.layout import ALERTS_LOG_KEY
from forecast_core.store import ArtifactStore

log = logging.getLogger("forecast_alerts.notifications")
WEBHOOK_TIMEOUT_SECONDS = 10.0


def payload(record: NotificationRecord) -> dict[str, Any]:
    """The JSON body every channel carries (webhook body, SNS message for HTTPS subscribers)."""
    return {
        "type": "forecast-panel.alert",
        "idempotency_key": f"{record.run_id}/{record.rule_id}",
        "transition": record.transition,
        "rule_id": record.rule_id,
        "point_id": record.rule.point_id,
        "point_name": record.point_name,
        "run_id": record.run_id,
        "value": record.value,
        "sources": record.sources,
        "subject": record.subject,
        "text": record.text,
        "rule": record.rule.model_dump(mode="json"),
    }


class Notifier(Protocol):
    name: str

    def send(self, record: NotificationRecord) -> list[str]: ...


class LogNotifier:
    """A JSON line per notification on the ``forecast_alerts.notifications`` logger and, for a
    local-folder store, appended to ``logs/alerts/notifications.jsonl``."""

    name = "log"

    def __init__(self, store: ArtifactStore | None = None) -> None:
        self.store = store

    def send(self, record: NotificationRecord) -> list[str]:
        line = json.dumps(payload(record), ensure_ascii=False, separators=(",", ":"))
        log.info("%s", line)
        if self.store is not None and self.store.is_local:
            from pathlib import Path

            path = Path(self.store.path(ALERTS_LOG_KEY))
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as handle:  # O_APPEND: one line per write
                handle.write(line + "\n")
        return [f"log:{record.run_id}/{record.rule_id}"]


class WebhookNotifier:
    """POST the payload as JSON to ``url`` with an ``Idempotency-Key`` header (run/rule), so a
    receiver can also drop a repeat. Refused connections and 4xx/5xx answers are failures
    (nothing was accepted); a timeout is an unknown outcome."""

    name = "webhook"

    def __init__(self, url: str, timeout: float = WEBHOOK_TIMEOUT_SECONDS) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must be http(s): {url!r}")
        self.url = url
        self.timeout = timeout

    def send(self, record: NotificationRecord) -> list[str]:
        body = json.dumps(payload(record), ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked in __init__)
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Idempotency-Key": f"{record.run_id}/{record.rule_id}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return [response.headers.get("X-Request-Id") or f"webhook:{response.status}:{uuid.uuid4().hex[:8]}"]
        except urllib.error.HTTPError as error:
            raise DeliveryFailed(f"webhook answered {error.code}") from error
        except urllib.error.URLError as error:
            if not isinstance(error.reason, TimeoutError):  # refused, unresolvable: nothing was sent
                raise DeliveryFailed(f"webhook unreachable: {error.reason}") from error
            raise


class SnsNotifier:
    """Publish to an SNS topic: a plain-text message for email subscribers, the JSON payload for
    HTTPS (and other) subscribers, and message attributes a subscription's filter policy can
    select on (``point_id``, ``rule_id``, ``transition``, ``created_by``)."""

    name = "sns"

    def __init__(self, topic_arn: str, client: Any = None) -> None:
        import boto3
        from botocore.config import Config

        from forecast_core.store import S3_RETRY_CONFIG

        self.topic_arn = topic_arn
        self.client = client or boto3.client("sns", config=Config(**S3_RETRY_CONFIG))

    def send(self, record: NotificationRecord) -> list[str]:
        from botocore.exceptions import ClientError, EndpointConnectionError

        document = json.dumps(payload(record), ensure_ascii=False)
        message = {"default": record.text, "email": record.text, "https": document, "http": document}
        attributes = {
            name: {"DataType": "String", "StringValue": value}
            for name, value in (
                ("point_id", record.rule.point_id),
                ("rule_id", record.rule_id),
                ("transition", record.transition),
                ("created_by", record.rule.created_by),
            )
        }
        try:
            response = self.client.publish(
                TopicArn=self.topic_arn,
                Subject=record.subject,
                Message=json.dumps(message, ensure_ascii=False),
                MessageStructure="json",
                MessageAttributes=attributes,
            )
        except EndpointConnectionError as error:
            raise DeliveryFailed(f"SNS unreachable: {error}") from error
        except ClientError as error:
            raise DeliveryFailed(f"SNS refused: {error.response.get('Error', {}).get('Code')}") from error
        return [str(response["MessageId"])]


class Fanout:
    """Channels in order, e.g. the webhook then the log; the first failure fails the notification.
    Give at most one delivery channel besides the log: a later channel's failure would make a
    retry send again through an earlier one that had delivered."""

    def __init__(self, channels: list[Notifier]) -> None:
        self.channels = channels
        self.name = "+".join(channel.name for channel in channels)

    def send(self, record: NotificationRecord) -> list[str]:
        ids: list[str] = []
        for channel in self.channels:
            ids += channel.send(record)
        return ids
