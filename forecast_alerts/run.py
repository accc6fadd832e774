"""One alert evaluation: the run in force, every enabled rule, the notifications, the status.

``evaluate_latest`` reads the run in force through ``forecast_core.published`` (latest.json and
the artifacts it lists, never the raw stores) and the store's config (rules, points, variables,
registry), evaluates each enabled rule (``forecast_alerts.evaluate``), notifies the rules whose
state changed (``forecast_alerts.ledger``: at most once per rule and run) and replaces
``dashboard/status/alerts_status.json`` by a compare-and-swap. A run already evaluated (the
status names it or a newer one) is left alone, so the evaluation can be retried or run by
several triggers at once — except for rules created or changed since its evaluation, which are
evaluated on it and join it. A rule is told once when it becomes true and once when it stops.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from forecast_alerts.evaluate import Outcome, evaluate
from forecast_alerts.ledger import Ledger
from forecast_alerts.members import RunMembers
from forecast_alerts.message import notification
from forecast_alerts.notify import Notifier
from forecast_core import layout
from forecast_core.alert_status import AlertsStatus, Delivery, NotificationRecord, RuleEvaluation, RuleState, Transition
from forecast_core.alerts import AlertRule, AlertRules, Condition, ProbabilityCondition, rule_problems
from forecast_core.base import MAX_CONFIG_BYTES, utc_now
from forecast_core.points import Point, PreCannedPoints
from forecast_core.published import read_latest
from forecast_core.registry import CONSENSUS_ID, CanonicalVariables, SourceRegistry
from forecast_core.status import RunManifest
from forecast_core.store import ArtifactNotFound, ArtifactStore, StoreError

log = logging.getLogger(__name__)
Outcome_ = Literal["evaluated", "already_evaluated", "no_run"]
STATUS_ATTEMPTS = 4
DELIVERY_THREADS = 16


@dataclass(frozen=True)
class AlertConfig:
    """What an evaluation reads besides the run: rules, points, variables and the registry."""

    rules: list[AlertRule]
    points: dict[str, Point]
    variables: CanonicalVariables
    registry: SourceRegistry | None
    _problems: dict[tuple[str, ...], list[tuple[str, str]]] = field(default_factory=dict)

    def problems(self, condition: Condition) -> list[tuple[str, str]]:
        """``rule_problems`` of ``condition``, once per combination of what they depend on."""
        reduce = condition.reduce if isinstance(condition, ProbabilityCondition) else ""
        key = (condition.variable_id, condition.unit, condition.source, reduce)
        if key not in self._problems:
            self._problems[key] = rule_problems(condition, self.variables, self.registry)
        return self._problems[key]

    @classmethod
    def load(cls, store: ArtifactStore) -> AlertConfig:
        from forecast_core.defaults import canonical_variables

        with ThreadPoolExecutor(max_workers=4) as pool:  # four reads, one round trip
            rules = pool.submit(_optional, store, layout.ALERT_RULES_KEY, AlertRules)
            points = pool.submit(_optional, store, layout.PRE_CANNED_POINTS_KEY, PreCannedPoints)
            variables = pool.submit(_optional, store, layout.CANONICAL_VARIABLES_KEY, CanonicalVariables)
            registry = pool.submit(_optional, store, layout.SOURCE_REGISTRY_KEY, SourceRegistry)
        found_rules, found_points = rules.result(), points.result()
        return cls(
            rules=list(found_rules.rules) if found_rules else [],
            points={point.point_id: point for point in (found_points.points if found_points else [])},
            variables=variables.result() or canonical_variables(),
            registry=registry.result(),
        )


def _optional[M: (AlertRules, PreCannedPoints, CanonicalVariables, SourceRegistry)](
    store: ArtifactStore, key: str, model: type[M]
) -> M | None:
    try:
        return store.read_model(key, model, max_bytes=MAX_CONFIG_BYTES)
    except ArtifactNotFound:
        return None


@dataclass
class EvaluationReport:
    """What ``evaluate_latest`` did."""

    outcome: Outcome_
    run_id: str | None = None
    rules: int = 0
    deliveries: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    status: AlertsStatus | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step (benchmarks)
    artifact_reads: int = 0

    @property
    def exit_code(self) -> int:
        """0, or 1 when a notification failed or its outcome is unknown."""
        return 1 if self.deliveries["failed"] or self.deliveries["unconfirmed"] else 0

    def summary(self) -> str:
        if self.outcome != "evaluated":
            return f"{self.outcome.replace('_', ' ')} (run {self.run_id})"
        fired = self.status.fired if self.status else 0
        cleared = self.status.cleared if self.status else 0
        sent = ", ".join(f"{count} {name}" for name, count in sorted(self.deliveries.items())) or "no notifications"
        return (
            f"run {self.run_id}: {self.rules} rules, {fired} fired, {cleared} cleared ({sent}) in {self.seconds:.2f} s"
        )


def evaluate_latest(store: ArtifactStore, notifier: Notifier) -> EvaluationReport:
    """Evaluate the rules on the run in force and notify their changes (module docstring)."""
    started = time.perf_counter()
    for _ in range(STATUS_ATTEMPTS):
        manifest = read_latest(store)
        if manifest is None:
            log.info("alerts: no run has been published yet")
            return EvaluationReport("no_run")
        found = store.read_versioned(layout.ALERTS_STATUS_KEY)
        previous = store.decode_model(layout.ALERTS_STATUS_KEY, found.data, AlertsStatus) if found else None
        only = None
        if previous is not None and previous.run_id >= manifest.run_id:
            only = _newcomers(store, previous) if previous.run_id == manifest.run_id else set()
            if not only:
                log.info("alerts: run %s is evaluated already", previous.run_id)
                return EvaluationReport("already_evaluated", previous.run_id, status=previous)
        report = _evaluate(store, manifest, previous, notifier, started, only)
        assert report.status is not None
        written = time.perf_counter()
        if store.replace_if(layout.ALERTS_STATUS_KEY, report.status.to_json_bytes(), found.version if found else None):
            report.timings["status"] = time.perf_counter() - written
            report.seconds = time.perf_counter() - started
            log.info("alerts: %s", report.summary())
            return report
        log.info("alerts status changed during the evaluation of %s; reading it again", manifest.run_id)
    raise StoreError(f"{layout.ALERTS_STATUS_KEY} kept changing during {STATUS_ATTEMPTS} evaluations")


def _newcomers(store: ArtifactStore, previous: AlertsStatus) -> set[str]:
    """Enabled rules the evaluation of its run has not seen (created or changed since)."""
    seen = {(item.rule_id, item.revision) for item in previous.rules}
    return {rule.rule_id for rule in AlertConfig.load(store).rules if rule.enabled and
            (rule.rule_id, rule.revision) not in seen}  # fmt: skip


def _evaluate(
    store: ArtifactStore,
    manifest: RunManifest,
    previous: AlertsStatus | None,
    notifier: Notifier,
    started: float,
    only: set[str] | None = None,
) -> EvaluationReport:
    """Evaluate the enabled rules (``only`` these, merged into ``previous``: rules new since the
    evaluation of this same run) and deliver their changes."""
    clock = [time.perf_counter()]
    config = AlertConfig.load(store)
    rules = [rule for rule in config.rules if rule.enabled and (only is None or rule.rule_id in only)]
    members = RunMembers(store, manifest, config.variables, config.registry, {rule.point_id for rule in rules})
    ledger = Ledger(store)
    before = _states_before(ledger, previous, manifest.run_id)
    evaluations: list[RuleEvaluation] = []
    pending: list[tuple[int, NotificationRecord]] = []
    for rule in sorted(rules, key=lambda item: item.rule_id):
        outcome = evaluate_rule(rule, members, config)
        evaluation = next_evaluation(rule, outcome, before.get(rule.rule_id), manifest.run_id, _sources(rule, members))
        if evaluation.transition is not None:
            pending.append((len(evaluations), notification(rule, evaluation, manifest, config)))
        evaluations.append(evaluation)
    clock.append(time.perf_counter())
    deliveries = _deliver(ledger, notifier, manifest.run_id, pending)
    clock.append(time.perf_counter())
    for (index, _), delivery in zip(pending, deliveries, strict=True):
        evaluations[index] = evaluations[index].replace(delivery=delivery)
    transitions = Counter(item.transition for item in evaluations if item.transition)
    if only is not None and previous is not None:  # newcomers join the run's evaluation
        evaluations = [item for item in previous.rules if item.rule_id not in only] + evaluations
        evaluations.sort(key=lambda item: item.rule_id)
        transitions.update({"fired": previous.fired, "cleared": previous.cleared})
    seconds = time.perf_counter() - started
    status = AlertsStatus(
        run_id=manifest.run_id,
        evaluated_utc=utc_now(),
        rules=evaluations,
        seconds=round(seconds, 3),
        fired=transitions["fired"],
        cleared=transitions["cleared"],
    )
    timings = {"evaluate": clock[1] - clock[0], "deliver": clock[2] - clock[1]}
    report = EvaluationReport("evaluated", manifest.run_id, len(rules), Counter(deliveries), seconds, status, timings)
    report.artifact_reads = members.reads
    return report


def _sources(rule: AlertRule, members: RunMembers) -> list[str]:
    return list(members.ensemble(rule.condition.source, rule.condition.variable_id, rule.point_id).source_ids)


def evaluate_rule(rule: AlertRule, members: RunMembers, config: AlertConfig) -> Outcome:
    """The rule's outcome on the run ``members`` reads from (no data when it cannot be evaluated)."""
    condition = rule.condition
    problems = config.problems(condition)
    if problems:
        return Outcome(None, detail=f"invalid for the store's config: {problems[0][1]}")
    if rule.point_id not in members.manifest.point_ids:
        return Outcome(None, detail="no forecast for this point in the run (pending, disabled or deleted)")
    ensemble = members.ensemble(condition.source, condition.variable_id, rule.point_id)
    native = config.variables.get(condition.variable_id).native_units
    return evaluate(condition, ensemble, native, consensus=condition.source == CONSENSUS_ID)


def _states_before(ledger: Ledger, previous: AlertsStatus | None, run_id: str) -> dict[str, RuleEvaluation]:
    """Each rule's state before ``run_id``: the last status, overridden by what evaluations that
    stopped before writing their status had already told (their notification records)."""
    states = previous.by_rule() if previous else {}
    after = previous.run_id if previous else ""
    for stopped in ledger.pending():
        if not after < stopped < run_id:
            continue
        for record in ledger.told_in(stopped):
            if record.status == "failed":
                continue  # nothing was delivered
            state: RuleState = "true" if record.transition == "fired" else "false"
            states[record.rule_id] = RuleEvaluation(
                rule_id=record.rule_id,
                point_id=record.rule.point_id,
                revision=record.rule.revision,
                state=state,
                since_run_id=record.run_id,
            )
    return states


def next_evaluation(
    rule: AlertRule, outcome: Outcome, before: RuleEvaluation | None, run_id: str, sources: list[str]
) -> RuleEvaluation:
    """The rule's evaluation in ``run_id`` given its state before (pure)."""
    if before is not None and before.revision != rule.revision:
        before = None  # the condition changed: its old state says nothing
    state: RuleState = before.state if before else "unknown"
    since = before.since_run_id if before else None
    if outcome.holds is None:
        return RuleEvaluation(
            rule_id=rule.rule_id, point_id=rule.point_id, revision=rule.revision, detail=outcome.detail,
            state=state, has_data=False, since_run_id=since, sources=sources,
        )  # fmt: skip
    now: RuleState = "true" if outcome.holds else "false"
    transition: Transition | None = None
    if now == "true" and state != "true":
        transition = "fired"
    elif now == "false" and state == "true":
        transition = "cleared"
    return RuleEvaluation(
        rule_id=rule.rule_id,
        point_id=rule.point_id,
        revision=rule.revision,
        detail=outcome.detail,
        state=now,
        since_run_id=run_id if now != state else since,
        value=outcome.value,
        sources=sources,
        transition=transition,
    )


def _deliver(
    ledger: Ledger, notifier: Notifier, run_id: str, pending: list[tuple[int, NotificationRecord]]
) -> list[Delivery]:
    """Deliver the notifications (on threads: each is a few requests); the run is marked pending
    first, so a stop in between is noticed by the next evaluation."""
    if not pending:
        return []
    ledger.begin(run_id)
    with ThreadPoolExecutor(max_workers=min(DELIVERY_THREADS, len(pending))) as pool:
        return list(pool.map(lambda item: ledger.deliver(item[1], notifier.send), pending))
