"""Embedded rules repository: ``dashboard/config/alert_rules.json`` of an artifact store is the
source of truth, replaced whole by a compare-and-swap on every write.

The swap is the store's own (``forecast_core.swap`` on ``ArtifactStore.replace_if``, the publish
protocol's commit): a file lock on a folder (across threads and processes), an S3 conditional
write (``If-Match`` / ``If-None-Match`` with write tokens; serialised in-process as well, because
moto's check is not atomic), a process lock in memory. A write that loses the swap reads the
document again and re-applies its change, so no concurrent write is lost and every check
(duplicates, the per-point limit) sees the rules it is written over.
"""

from __future__ import annotations

from collections.abc import Callable

from forecast_core.alerts import AlertRule, RulePayload, RuleUpdate
from forecast_core.layout import ALERT_RULES_KEY
from forecast_core.store import ArtifactStore
from points_api.repository import PointsRepository, swap_document
from points_api.rules import (
    RuleContext,
    RuleWriteResult,
    apply_create,
    apply_delete,
    apply_update,
    check_rule_id,
    parse_rules,
    rules_document,
)

Change = Callable[[list[AlertRule]], tuple[list[AlertRule], RuleWriteResult]]


class StoreRulesRepository:
    """RulesRepository over ``alert_rules.json`` of ``store`` (points from ``points``)."""

    def __init__(self, store: ArtifactStore, points: PointsRepository) -> None:
        self.store = store
        self.points = points

    def context(self) -> RuleContext:
        return RuleContext.of_store(self.store, {point.point_id for point in self.points.list_points()})

    def list_rules(self, point_id: str | None = None) -> list[AlertRule]:
        found = self.store.read_versioned(ALERT_RULES_KEY)
        rules = parse_rules(found.data if found else None)
        return [rule for rule in rules if point_id is None or rule.point_id == point_id]

    def _swap(self, change: Change) -> RuleWriteResult:
        def on_bytes(data: bytes | None) -> tuple[bytes, RuleWriteResult]:
            rules, result = change(parse_rules(data))
            return rules_document(rules), result

        return swap_document(self.store, ALERT_RULES_KEY, on_bytes)

    def create_rule(self, payload: RulePayload) -> RuleWriteResult:
        context = self.context()
        return self._swap(lambda rules: apply_create(rules, payload, context))

    def update_rule(self, rule_id: str, update: RuleUpdate) -> RuleWriteResult:
        check_rule_id(rule_id)
        context = self.context()
        return self._swap(lambda rules: apply_update(rules, rule_id, update, context))

    def delete_rule(self, rule_id: str) -> RuleWriteResult:
        check_rule_id(rule_id)
        return self._swap(lambda rules: apply_delete(rules, rule_id))
