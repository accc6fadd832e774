"""Embedded rules repository: ``dashboard/config/alert_rules.json`` of an artifact store is the
source of truth, replaced whole by a compare-and-swap on every write.

The swap is the store's own (``ArtifactStore.replace_if``, the publish protocol's commit): a file
lock on a folder (across threads and processes), an S3 conditional write (``If-Match`` /
``If-None-Match``; serialised in-process as well, because moto's check is not atomic), a process
lock in memory. A write that loses the swap reads the document again and re-applies its change,
so no concurrent write is lost and every check (duplicates, the per-point limit) sees the rules
it is written over.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable

from forecast_core.alerts import AlertRule, RulePayload, RuleUpdate
from forecast_core.layout import ALERT_RULES_KEY
from forecast_core.store import ArtifactStore
from points_api import s3_cas
from points_api.errors import StorageConflict
from points_api.repository import PointsRepository
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

SWAP_ATTEMPTS = 12
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
        lock = s3_cas.PROCESS_LOCK if self.store.is_s3 else contextlib.nullcontext()
        for attempt in range(SWAP_ATTEMPTS):
            with lock:
                found = self.store.read_versioned(ALERT_RULES_KEY)
                rules, result = change(parse_rules(found.data if found else None))
                if self.store.replace_if(ALERT_RULES_KEY, rules_document(rules), found.version if found else None):
                    return result
            time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))  # noqa: S311 (jitter, not crypto)
        raise StorageConflict(f"could not update {ALERT_RULES_KEY} after {SWAP_ATTEMPTS} attempts; try again")

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
