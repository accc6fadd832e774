"""What a notification says: a short ASCII subject (SNS e-mail subjects are ASCII, ≤ 100
characters) and a plain text a person reads in an e-mail or a chat."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from forecast_core.alert_status import NotificationRecord, RuleEvaluation
from forecast_core.alerts import AlertRule, describe
from forecast_core.base import utc_now
from forecast_core.registry import CONSENSUS_ID
from forecast_core.status import RunManifest

if TYPE_CHECKING:
    from forecast_alerts.run import AlertConfig

SUBJECT_LENGTH = 100


def ascii_text(text: str) -> str:
    """``text`` in ASCII (accents dropped, other characters left out), whitespace collapsed."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return " ".join(folded.split())


def source_name(source: str, config: AlertConfig) -> str:
    if source == CONSENSUS_ID:
        return "consensus of all sources"
    if config.registry is not None:
        for entry in config.registry.sources:
            if entry.source_id == source:
                return entry.display_name
    return source


def notification(
    rule: AlertRule, evaluation: RuleEvaluation, manifest: RunManifest, config: AlertConfig
) -> NotificationRecord:
    """The claimed record of the notification about ``evaluation`` (which has a transition)."""
    assert evaluation.transition is not None
    point = config.points.get(rule.point_id)
    point_name = point.point_name if point else rule.point_id
    condition = rule.condition
    try:
        variable_name = config.variables.get(condition.variable_id).display_name_of(condition.variable_id)
    except KeyError:
        variable_name = condition.variable_id
    wording = describe(condition, variable_name, source_name(condition.source, config))
    news = "is now true" if evaluation.transition == "fired" else "is no longer true"
    title = rule.label or wording
    subject = ascii_text(f"[forecast-panel] {point_name}: {rule.label or variable_name} {news}")[:SUBJECT_LENGTH]
    inits = ", ".join(f"{info.source_id} {info.init_time:%Y-%m-%d %H} UTC" for info in manifest.sources
                      if info.source_id in evaluation.sources)  # fmt: skip
    lines = [
        f"{title} {news} for {point_name}.",
        *([f"Rule: {wording}"] if rule.label else []),
        f"This run: {evaluation.detail}",
        f"Forecast run {manifest.run_id}" + (f" (inits: {inits})" if inits else ""),
        f"Rule id {rule.rule_id}; change or delete it in the dashboard.",
    ]
    return NotificationRecord(
        rule_id=rule.rule_id,
        run_id=manifest.run_id,
        transition=evaluation.transition,
        status="claimed",
        claimed_utc=utc_now(),
        subject=subject or "[forecast-panel] alert",
        text="\n".join(lines),
        value=evaluation.value,
        sources=evaluation.sources,
        rule=rule,
        point_name=point_name[:200],
    )
