"""The evaluation after a run, on a store the real pipeline wrote: what it records and sends, and
that no rule is told twice — across retries, crashes, failures, new runs and concurrent runs."""

from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from forecast_alerts.ledger import DeliveryFailed, Ledger
from forecast_alerts.members import RunMembers
from forecast_alerts.notify import Fanout, LogNotifier, WebhookNotifier
from forecast_alerts.run import AlertConfig, evaluate_latest, evaluate_rule
from forecast_core.alert_status import AlertsStatus, NotificationRecord
from forecast_core.layout import ALERTS_LOG_KEY, ALERTS_STATUS_KEY, notification_key
from forecast_core.published import read_artifact, read_latest
from forecast_core.store import ArtifactStore
from tests.alerts.conftest import COLD, RAIN, RULES, SNOW, WIND, Webhook, forget_evaluations, republish, rule, scaled


def status_of(store: ArtifactStore) -> AlertsStatus:
    return store.read_model(ALERTS_STATUS_KEY, AlertsStatus)


def record(store: ArtifactStore, run_id: str, rule_id: str) -> NotificationRecord:
    return store.read_model(notification_key(run_id, rule_id), NotificationRecord)


class Recorder:
    """A notifier that records what it is asked to send (or raises ``error``)."""

    name = "recorder"

    def __init__(self, error: BaseException | None = None) -> None:
        self.sent: list[NotificationRecord] = []
        self.error = error
        self.lock = threading.Lock()

    def send(self, item: NotificationRecord) -> list[str]:
        with self.lock:
            self.sent.append(item)
        if self.error is not None:
            raise self.error
        return [f"id-{item.rule_id}"]


def test_the_extraction_evaluated_its_run(store: ArtifactStore) -> None:
    manifest = read_latest(store)
    assert manifest is not None
    status = status_of(store)
    assert status.run_id == manifest.run_id and (status.fired, status.cleared) == (2, 0)
    by_rule = status.by_rule()
    assert {rule_id: by_rule[rule_id].transition for rule_id in by_rule} == {
        RAIN: "fired",
        COLD: "fired",
        SNOW: None,
        WIND: None,
    }
    assert by_rule[RAIN].sources == ["gefs", "ecmwf_ifs_ens"] and by_rule[COLD].sources == ["gefs"]
    assert (by_rule[SNOW].state, by_rule[WIND].state, by_rule[WIND].has_data) == ("false", "unknown", False)
    assert "reaches 360 h" in by_rule[WIND].detail
    for rule_id in (RAIN, COLD):
        sent = record(store, manifest.run_id, rule_id)
        assert (sent.status, sent.transition, sent.rule.rule_id, sent.value) == (
            "sent", "fired", rule_id, by_rule[rule_id].value
        )  # fmt: skip
    lines = [json.loads(line) for line in store.read_bytes(ALERTS_LOG_KEY).decode().splitlines()]
    assert sorted(line["rule_id"] for line in lines) == [RAIN, COLD]
    assert "Alpha" in lines[0]["subject"] and lines[0]["idempotency_key"].startswith(manifest.run_id)


def member_totals(store: ArtifactStore, source_id: str, variable_id: str, point_id: str, hours: float) -> pd.Series:
    """Independently: each member's sum of the step amounts with lead in (0, hours]."""
    manifest = read_latest(store)
    assert manifest is not None
    artifact = manifest.artifact(source_id, variable_id, "points")
    assert artifact is not None
    frame = pq.read_table(pa.BufferReader(read_artifact(store, artifact))).to_pandas()
    rows = frame[(frame.point_id == point_id) & (frame.lead_hours > 0) & (frame.lead_hours <= hours)]
    return rows.groupby("ensemble_member")["value"].sum().astype("float64")


def test_a_consensus_probability_matches_an_independent_computation(store: ArtifactStore) -> None:
    gefs = member_totals(store, "gefs", "precipitation", "alpha", 72)
    ifs = member_totals(store, "ecmwf_ifs_ens", "precipitation", "alpha", 72)
    threshold = float(np.median(np.concatenate([gefs, ifs])))
    expected = 100 * ((gefs >= threshold).mean() + (ifs >= threshold).mean()) / 2  # each source weighs half
    condition = RULES[0].condition.model_dump() | {"threshold": threshold, "min_probability": 100.0}
    subject = rule("rule-0000000000ff", "alpha", condition)
    manifest = read_latest(store)
    assert manifest is not None
    config = AlertConfig.load(store)
    outcome = evaluate_rule(subject, RunMembers(store, manifest, config.variables, config.registry, {"alpha"}), config)
    assert outcome.value == pytest.approx(expected, abs=1e-3) and 0 < expected < 100
    assert outcome.holds is False


def test_a_retried_evaluation_sends_nothing_again(store: ArtifactStore, webhook: Webhook) -> None:
    notifier = Fanout([WebhookNotifier(webhook.url), LogNotifier(store)])
    assert evaluate_latest(store, notifier).outcome == "already_evaluated"
    store.delete(ALERTS_STATUS_KEY)  # as if the evaluation had stopped after notifying, before its status
    report = evaluate_latest(store, notifier)
    assert report.outcome == "evaluated" and report.deliveries == {"already_sent": 2}
    assert webhook.received == []
    assert status_of(store).by_rule()[RAIN].delivery == "already_sent"


def test_a_webhook_gets_each_notification_once_with_its_key(store: ArtifactStore, webhook: Webhook) -> None:
    forget_evaluations(store)
    notifier = Fanout([WebhookNotifier(webhook.url), LogNotifier(store)])
    assert evaluate_latest(store, notifier).deliveries == {"sent": 2}
    run_id = status_of(store).run_id
    keys = sorted(headers["Idempotency-Key"] for headers, _ in webhook.received)
    assert keys == sorted(f"{run_id}/{rule_id}" for rule_id in (RAIN, COLD))
    body = next(body for _, body in webhook.received if body["rule_id"] == RAIN)
    assert body["transition"] == "fired" and body["point_name"] == "Alpha" and body["rule"]["rule_id"] == RAIN


def test_sent_but_not_recorded_is_never_sent_again(store: ArtifactStore) -> None:
    forget_evaluations(store)
    unknown = Recorder(TimeoutError("the answer did not come"))
    report = evaluate_latest(store, unknown)
    assert report.deliveries == {"unconfirmed": 2} and report.exit_code == 1
    run_id = status_of(store).run_id
    assert record(store, run_id, RAIN).status == "claimed"
    store.delete(ALERTS_STATUS_KEY)
    again = Recorder()
    assert evaluate_latest(store, again).deliveries == {"unconfirmed": 2}
    assert again.sent == []


def test_a_failed_delivery_is_tried_again_by_the_next_evaluation(store: ArtifactStore, webhook: Webhook) -> None:
    forget_evaluations(store)
    webhook.status = 503
    notifier = Fanout([WebhookNotifier(webhook.url), LogNotifier(store)])
    assert evaluate_latest(store, notifier).deliveries == {"failed": 2}
    run_id = status_of(store).run_id
    failed = record(store, run_id, RAIN)
    assert failed.status == "failed" and "503" in (failed.error or "")
    webhook.status = 204
    store.delete(ALERTS_STATUS_KEY)
    assert evaluate_latest(store, notifier).deliveries == {"sent": 2}
    assert (record(store, run_id, RAIN).status, record(store, run_id, RAIN).attempt) == ("sent", 2)
    assert len(webhook.received) == 4  # two refused, two delivered


def test_new_runs_clear_once_and_fire_again(store: ArtifactStore) -> None:
    recorder = Recorder()
    dry = republish(store, scaled("precipitation", 0.0))
    assert evaluate_latest(store, recorder).deliveries == {"sent": 1}
    assert [(item.rule_id, item.transition, item.run_id) for item in recorder.sent] == [(RAIN, "cleared", dry.run_id)]
    assert status_of(store).by_rule()[COLD].transition is None  # still true: not told again
    republish(store, scaled("precipitation", 0.0))
    assert evaluate_latest(store, recorder).deliveries == {}
    wet = republish(store, scaled("precipitation", 1.0, offset=2.0))  # 2 mm in every step
    evaluate_latest(store, recorder)
    assert [(item.rule_id, item.transition) for item in recorder.sent] == [(RAIN, "cleared"), (RAIN, "fired")]
    assert status_of(store).by_rule()[RAIN].since_run_id == wet.run_id


def test_what_a_stopped_evaluation_told_counts_for_the_next_run(store: ArtifactStore) -> None:
    forget_evaluations(store)
    first = Recorder()
    evaluate_latest(store, first)
    store.delete(ALERTS_STATUS_KEY)  # it stopped after notifying RAIN and COLD, before its status
    republish(store, scaled("temperature_2m", 1.0))  # a new run before the retry
    later = Recorder()
    report = evaluate_latest(store, later)
    assert later.sent == [] and report.deliveries == {}
    by_rule = status_of(store).by_rule()
    assert (by_rule[RAIN].state, by_rule[RAIN].transition) == ("true", None)
    assert Ledger(store).pending() == [first.sent[0].run_id]


def test_concurrent_evaluations_notify_each_rule_once(store: ArtifactStore) -> None:
    forget_evaluations(store)
    recorder = Recorder()
    reports = []
    threads = [threading.Thread(target=lambda: reports.append(evaluate_latest(store, recorder))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(item.rule_id for item in recorder.sent) == [RAIN, COLD]
    assert status_of(store).fired == 2


def test_disabled_and_changed_rules(store: ArtifactStore) -> None:
    from tests.alerts.conftest import write_rules

    raised = RULES[1].condition.model_dump() | {"threshold": -100.0}
    write_rules(store, [RULES[0].replace(enabled=False), rule(COLD, "alpha", raised), *RULES[2:]])
    recorder = Recorder()
    republish(store, scaled("precipitation", 1.0))
    evaluate_latest(store, recorder)
    by_rule = status_of(store).by_rule()
    assert RAIN not in by_rule  # paused: not evaluated
    assert (by_rule[COLD].state, by_rule[COLD].transition) == ("false", None)  # a new condition starts unknown
    assert recorder.sent == []


def test_a_definite_refusal_is_recorded_as_failed(store: ArtifactStore) -> None:
    forget_evaluations(store)
    report = evaluate_latest(store, Recorder(DeliveryFailed("SNS refused: AuthorizationError")))
    assert report.deliveries == {"failed": 2} and report.exit_code == 1
    assert "AuthorizationError" in (record(store, report.run_id or "", COLD).error or "")


def test_rules_added_after_a_run_was_evaluated_are_evaluated_on_it(store: ArtifactStore) -> None:
    from tests.alerts.conftest import write_rules

    newcomer = rule("rule-0000000000ee", "charlie", RULES[0].condition.model_dump() | {"threshold": 0.0})
    write_rules(store, [*RULES, newcomer])
    recorder = Recorder()
    report = evaluate_latest(store, recorder)
    assert report.outcome == "evaluated" and report.rules == 1
    assert [item.rule_id for item in recorder.sent] == [newcomer.rule_id]
    status = status_of(store)
    assert len(status.rules) == 5 and status.fired == 3
    assert status.by_rule()[RAIN].transition == "fired"  # the run's earlier news stays
    assert evaluate_latest(store, recorder).outcome == "already_evaluated"
