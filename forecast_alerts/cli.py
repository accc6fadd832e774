"""``forecast-panel alerts evaluate``: evaluate the alert rules on the run in force and notify.

Run by ``forecast-panel extract`` after each publish (unless ``--no-alerts`` or
``FORECAST_ALERTS=off``), and schedulable on its own (in AWS: started by the S3 event of each new
``manifests/latest.json``). Evaluating a run twice is harmless: the second finds it evaluated.

Channels: SNS when ``--sns-topic-arn`` / ``FORECAST_ALERTS_TOPIC_ARN`` is set; else the webhook
of ``--webhook`` / ``FORECAST_ALERTS_WEBHOOK_URL`` if any; always the log (a local store's
``logs/alerts/notifications.jsonl`` too). Exit codes: 0 evaluated (or nothing to do), 1 some
notification failed or its outcome is unknown, 2 the evaluation could not run.
"""

from __future__ import annotations

import argparse
import logging
import os

from forecast_alerts.notify import Fanout, LogNotifier, Notifier, SnsNotifier, WebhookNotifier
from forecast_alerts.run import EvaluationReport, evaluate_latest
from forecast_core.store import ArtifactStore, InvalidArtifact, StoreError
from forecast_core.store_options import add_store_arguments

log = logging.getLogger(__name__)
TOPIC_ENV = "FORECAST_ALERTS_TOPIC_ARN"
WEBHOOK_ENV = "FORECAST_ALERTS_WEBHOOK_URL"
SWITCH_ENV = "FORECAST_ALERTS"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    evaluate = actions.add_parser("evaluate", help="evaluate every rule on the run in force and notify changes")
    add_store_arguments(evaluate)
    evaluate.add_argument(
        "--sns-topic-arn", default=os.environ.get(TOPIC_ENV), help=f"SNS topic (default: ${TOPIC_ENV})"
    )
    evaluate.add_argument(
        "--webhook", default=os.environ.get(WEBHOOK_ENV), help=f"POST each notification here (default: ${WEBHOOK_ENV})"
    )


def notifier_for(store: ArtifactStore, topic_arn: str | None, webhook: str | None) -> Notifier:
    """SNS, else the webhook, then the log; the log alone when neither is given."""
    if topic_arn:
        return Fanout([SnsNotifier(topic_arn), LogNotifier()])
    if webhook:
        return Fanout([WebhookNotifier(webhook), LogNotifier(store)])
    return LogNotifier(store)


def alerts_enabled() -> bool:
    """Whether an extraction evaluates alerts after it publishes (``FORECAST_ALERTS=off`` stops it)."""
    return os.environ.get(SWITCH_ENV, "on").strip().lower() not in {"off", "0", "false", "no"}


def evaluate_after_publish(store: ArtifactStore) -> EvaluationReport | None:
    """The extraction's step after a publish: evaluate with the environment's channels. Never
    raises (a failed evaluation must not fail the run that published; the next one retries)."""
    try:
        notifier = notifier_for(store, os.environ.get(TOPIC_ENV), os.environ.get(WEBHOOK_ENV))
        return evaluate_latest(store, notifier)
    except Exception:
        log.exception("alert evaluation failed; `forecast-panel alerts evaluate` retries it")
        return None


def run(args: argparse.Namespace) -> int:
    try:
        store = ArtifactStore(args.store, endpoint_url=args.endpoint_url)
        report = evaluate_latest(store, notifier_for(store, args.sns_topic_arn, args.webhook))
    except (StoreError, InvalidArtifact, ValueError) as error:
        log.error("alerts: %s", error)
        return 2
    return report.exit_code  # evaluate_latest logged its summary
