"""The alert-rules repository contract and the pure rules every backend shares.

A rule is stored like a point (``points_api.repository``): a repository owns the source of truth
(DynamoDB, or ``dashboard/config/alert_rules.json`` of an artifact store) and guarantees that one
condition is stored once per point — concurrent creates of equal rules give one rule and
``DuplicateRule`` for the rest (``forecast_core.alerts.dedupe_key``) — and that a point holds at
most ``MAX_RULES_PER_POINT`` rules. What a rule may say is checked against the store's config
(``RuleContext``): its point exists, its variable, unit and source fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from forecast_core.alerts import (
    MAX_RULES_PER_POINT,
    AlertRule,
    AlertRules,
    Condition,
    RulePayload,
    RuleUpdate,
    dedupe_key,
    new_rule,
    rule_problems,
    updated_rule,
)
from forecast_core.base import utc_now
from forecast_core.layout import CANONICAL_VARIABLES_KEY, SOURCE_REGISTRY_KEY
from forecast_core.registry import CanonicalVariables, SourceRegistry
from forecast_core.store import ArtifactNotFound, ArtifactStore
from points_api.errors import ApiError, NotFound, ValidationFailed

_RULE_ID = re.compile(r"^rule-[0-9a-f]{12}$")
RuleAction = Literal["create_rule", "update_rule", "delete_rule"]


class DuplicateRule(ApiError):
    """409: the point already has a rule with this condition."""

    status = 409
    error = "duplicate"

    def __init__(self, existing: AlertRule):
        super().__init__(
            f"point {existing.point_id} already has this rule ({existing.rule_id})",
            conflict={"rule_id": existing.rule_id, "point_id": existing.point_id},
        )
        self.existing = existing


class RulesUnavailable(ApiError):
    """503: this deployment has no rules table configured."""

    status = 503
    error = "unavailable"


@dataclass(frozen=True)
class RuleWriteResult:
    """What a write changed (``point``: the rule, whose ``point_id`` keys its audit record)."""

    action: RuleAction
    before: AlertRule | None
    after: AlertRule | None

    @property
    def rule(self) -> AlertRule:
        rule = self.after or self.before
        assert rule is not None
        return rule

    @property
    def point(self) -> AlertRule:
        return self.rule


@dataclass(frozen=True)
class RuleContext:
    """What a rule is checked against: the points that exist and the store's config."""

    point_ids: frozenset[str]
    variables: CanonicalVariables
    registry: SourceRegistry | None

    @classmethod
    def of_store(cls, store: ArtifactStore, point_ids: set[str]) -> RuleContext:
        from forecast_core.defaults import canonical_variables

        try:
            variables = store.read_model(CANONICAL_VARIABLES_KEY, CanonicalVariables)
        except ArtifactNotFound:
            variables = canonical_variables()
        try:
            registry: SourceRegistry | None = store.read_model(SOURCE_REGISTRY_KEY, SourceRegistry)
        except ArtifactNotFound:
            registry = None
        return cls(frozenset(point_ids), variables, registry)

    def with_point(self, point_id: str) -> RuleContext:
        """This context with ``point_id`` counted as existing (a stored rule's own point)."""
        return replace(self, point_ids=self.point_ids | {point_id})

    def native_unit(self, condition: Condition) -> str:
        return self.variables.get(condition.variable_id).native_units

    def key(self, point_id: str, condition: Condition) -> str:
        return dedupe_key(point_id, condition, self.native_unit(condition))


class RulesRepository(Protocol):
    """Storage of rules; writes raise ``DuplicateRule`` / ``NotFound`` / ``ValidationFailed``."""

    def list_rules(self, point_id: str | None = None) -> list[AlertRule]: ...
    def create_rule(self, payload: RulePayload) -> RuleWriteResult: ...
    def update_rule(self, rule_id: str, update: RuleUpdate) -> RuleWriteResult: ...
    def delete_rule(self, rule_id: str) -> RuleWriteResult: ...


def check_rule_id(rule_id: str) -> str:
    """``rule_id`` if it can name a rule; NotFound otherwise (it cannot exist)."""
    if not _RULE_ID.match(rule_id):
        raise NotFound(f"no rule {rule_id!r}")
    return rule_id


def check_condition(point_id: str, condition: Condition, context: RuleContext) -> None:
    """ValidationFailed (422, field by field) unless the point exists and the condition fits."""
    fields = [{"field": name, "message": message} for name, message in rule_problems(condition, context.variables,
                                                                                     context.registry)]  # fmt: skip
    if point_id not in context.point_ids:
        fields.insert(0, {"field": "point_id", "message": f"no point {point_id!r}"})
    if fields:
        summary = "; ".join(f"{item['field']}: {item['message']}" for item in fields)
        raise ValidationFailed(f"invalid rule: {summary}", fields=fields)


def find_rule(rules: list[AlertRule], rule_id: str) -> AlertRule:
    for rule in rules:
        if rule.rule_id == rule_id:
            return rule
    raise NotFound(f"no rule {rule_id!r}")


def find_duplicate(rules: list[AlertRule], rule: AlertRule, context: RuleContext) -> AlertRule | None:
    """The other rule of the same point with the same condition (thresholds in native units)."""
    key = context.key(rule.point_id, rule.condition)
    known = set(context.variables.output_variable_ids())
    for other in rules:
        same_point = other.rule_id != rule.rule_id and other.point_id == rule.point_id
        if same_point and other.condition.variable_id in known and context.key(other.point_id, other.condition) == key:
            return other
    return None


def too_many(point_id: str) -> ValidationFailed:
    message = f"point {point_id} has {MAX_RULES_PER_POINT} rules, the most a point may hold"
    return ValidationFailed(message, fields=[{"field": "point_id", "message": message}])


def apply_create(
    rules: list[AlertRule], payload: RulePayload, context: RuleContext
) -> tuple[list[AlertRule], RuleWriteResult]:
    """Pure create over the full list: the new list, or ValidationFailed / DuplicateRule."""
    check_condition(payload.point_id, payload.condition, context)
    rule = new_rule(payload)
    duplicate = find_duplicate(rules, rule, context)
    if duplicate is not None:
        raise DuplicateRule(duplicate)
    if sum(1 for other in rules if other.point_id == rule.point_id) >= MAX_RULES_PER_POINT:
        raise too_many(rule.point_id)
    return [*rules, rule], RuleWriteResult("create_rule", None, rule)


def apply_update(
    rules: list[AlertRule], rule_id: str, update: RuleUpdate, context: RuleContext
) -> tuple[list[AlertRule], RuleWriteResult]:
    """Pure update: relabel, a new condition (checked, deduplicated), enable or disable."""
    before = find_rule(rules, rule_id)
    after = updated_rule(before, update)
    if update.condition is not None:
        check_condition(before.point_id, update.condition, context.with_point(before.point_id))
        duplicate = find_duplicate(rules, after, context)
        if duplicate is not None:
            raise DuplicateRule(duplicate)
    changed = [after if rule.rule_id == rule_id else rule for rule in rules]
    return changed, RuleWriteResult("update_rule", before, after)


def apply_delete(rules: list[AlertRule], rule_id: str) -> tuple[list[AlertRule], RuleWriteResult]:
    """Pure delete: the new list, or NotFound."""
    before = find_rule(rules, rule_id)
    return [rule for rule in rules if rule.rule_id != rule_id], RuleWriteResult("delete_rule", before, None)


def rules_document(rules: list[AlertRule]) -> bytes:
    """The canonical ``alert_rules.json`` bytes (rules sorted by id)."""
    ordered = sorted(rules, key=lambda rule: rule.rule_id)
    return AlertRules(generated_utc=utc_now(), rules=ordered).to_json_bytes()


def parse_rules(data: bytes | None) -> list[AlertRule]:
    return [] if data is None else list(AlertRules.model_validate_json(data).rules)
