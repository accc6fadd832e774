"""Alert rules on a point: the one definition used by the write-back API, the evaluator and the app.

A rule watches one point, one output variable and one source (a source id, or ``consensus``: every
enabled source pooled, ``forecast_core.consensus``) over a window of lead hours after the
forecast's init (for the consensus: the newest init among its sources). Two kinds:

- ``probability``: each member is reduced over the window (``total`` of a per-step amount, or its
  ``min``, ``max``, ``mean``); the rule is true when the share of members (consensus: of weight)
  whose reduced value satisfies ``comparison threshold`` is at least ``min_probability`` percent.
  "Probability that snowfall total over the next 72 h ≥ 10 mm is at least 50 %"::

      {"kind": "probability", "variable_id": "snowfall", "source": "consensus",
       "window": {"end_hours": 72}, "reduce": "total", "comparison": ">=", "threshold": 10,
       "unit": "mm", "min_probability": 50}

- ``statistic``: an ensemble statistic across members at each valid time (a quantile, ``mean``,
  ``min`` or ``max``); true when ``statistic comparison threshold`` holds at ``any`` (or ``all``)
  of the window's valid times. "Minimum temperature below −20 °C in the member median"::

      {"kind": "statistic", "variable_id": "temperature_2m", "source": "gefs",
       "window": {"end_hours": 240}, "statistic": "median", "comparison": "<", "threshold": -20,
       "unit": "degC", "when": "any"}

Thresholds are given in any unit of the variable's dimension and compared in its native unit.
What the model alone cannot check (the variable exists, the unit fits it, ``total`` only for
per-step amounts, the source exists) is ``rule_problems``, against the store's config. Two rules
of one point are duplicates when their conditions are equal with thresholds in native units
(``dedupe_key``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Annotated, Final, Literal

from pydantic import BeforeValidator, Field, model_validator

from forecast_core.base import ContractModel, Identifier, UtcDatetime, utc_now
from forecast_core.points import Actor, PointId, PointNameError, clean_point_name
from forecast_core.registry import CONSENSUS_ID, CanonicalVariable, CanonicalVariables, SourceRegistry
from forecast_core.units import UnitId, convert_scalar, convertible, label

MAX_RULES_PER_POINT: Final = 50
MAX_WINDOW_HOURS: Final = 1000.0
MAX_LABEL_LENGTH: Final = 80

RuleId = Annotated[str, Field(pattern=r"^rule-[0-9a-f]{12}$")]
Comparison = Literal[">", ">=", "<", "<="]
Reduction = Literal["total", "min", "max", "mean"]
Statistic = Literal["min", "q10", "q25", "median", "q75", "q90", "max", "mean"]
STATISTIC_LEVELS: Final[dict[str, float]] = {"q10": 0.10, "q25": 0.25, "median": 0.50, "q75": 0.75, "q90": 0.90}
COMPARISON_WORDS: Final[dict[str, str]] = {">": "above", ">=": "at least", "<": "below", "<=": "at most"}


def _clean_label(value: object) -> object:
    if isinstance(value, str):
        try:
            return clean_point_name(value)
        except PointNameError as error:
            raise ValueError(str(error).replace("point_name", "label")) from error
    return value


Finite = Annotated[float, Field(allow_inf_nan=False)]
RuleLabel = Annotated[str, BeforeValidator(_clean_label), Field(min_length=1, max_length=MAX_LABEL_LENGTH)]
SourceRef = Identifier
"""A source id of the registry, or ``consensus``."""


class LeadWindow(ContractModel):
    """Lead hours after the init: valid times in [start, end] (per-step totals: steps ending in (start, end])."""

    start_hours: Annotated[Finite, Field(ge=0.0, le=MAX_WINDOW_HOURS)] = 0.0
    end_hours: Annotated[Finite, Field(gt=0.0, le=MAX_WINDOW_HOURS)]

    @model_validator(mode="after")
    def _ordered(self) -> LeadWindow:
        if self.end_hours <= self.start_hours:
            raise ValueError("end_hours must be after start_hours")
        return self


class _Condition(ContractModel):
    variable_id: Identifier
    source: SourceRef = CONSENSUS_ID
    window: LeadWindow
    comparison: Comparison
    threshold: Finite
    unit: UnitId


class ProbabilityCondition(_Condition):
    """True when at least ``min_probability`` % of the members (weight) satisfy the comparison."""

    kind: Literal["probability"] = "probability"
    reduce: Reduction
    min_probability: Annotated[Finite, Field(gt=0.0, le=100.0)]


class StatisticCondition(_Condition):
    """True when the ensemble ``statistic`` satisfies the comparison at ``any`` / ``all`` valid times."""

    kind: Literal["statistic"] = "statistic"
    statistic: Statistic
    when: Literal["any", "all"] = "any"


Condition = Annotated[ProbabilityCondition | StatisticCondition, Field(discriminator="kind")]


class RulePayload(ContractModel):
    """What a client sends to create a rule."""

    point_id: PointId
    condition: Condition
    created_by: Actor
    label: RuleLabel | None = None
    enabled: bool = True


class RuleUpdate(ContractModel):
    """A partial update: relabel, change the condition, enable or disable. At least one field."""

    label: RuleLabel | None = None
    condition: Condition | None = None
    enabled: bool | None = None
    updated_by: Actor | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> RuleUpdate:
        if self.label is None and self.condition is None and self.enabled is None:
            raise ValueError("give at least one of label, condition, enabled")
        return self


class AlertRule(ContractModel):
    """A stored rule, as listed in ``alert_rules.json`` and returned by the API."""

    rule_id: RuleId
    point_id: PointId
    condition: Condition
    created_by: Actor
    created_utc: UtcDatetime
    updated_utc: UtcDatetime
    label: RuleLabel | None = None
    enabled: bool = True

    @property
    def revision(self) -> str:
        """What the rule's state belongs to: a hash of its point and condition (a changed
        condition starts from no state; a relabel or a pause does not)."""
        text = json.dumps([self.point_id, self.condition.model_dump(mode="json")], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class AlertRules(ContractModel):
    """``dashboard/config/alert_rules.json``: every rule, enabled or not (written by the API)."""

    schema_version: int = Field(default=1, ge=1, le=1)
    generated_utc: UtcDatetime
    rules: list[AlertRule]

    @model_validator(mode="after")
    def _unique(self) -> AlertRules:
        ids = [rule.rule_id for rule in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("duplicate rule ids")
        return self

    def of_point(self, point_id: str) -> list[AlertRule]:
        return [rule for rule in self.rules if rule.point_id == point_id]


def make_rule_id() -> str:
    return f"rule-{uuid.uuid4().hex[:12]}"


def new_rule(payload: RulePayload) -> AlertRule:
    """The stored rule a valid payload creates (a new id, times now)."""
    now = utc_now()
    return AlertRule(
        rule_id=make_rule_id(),
        point_id=payload.point_id,
        condition=payload.condition,
        created_by=payload.created_by,
        created_utc=now,
        updated_utc=now,
        label=payload.label,
        enabled=payload.enabled,
    )


def updated_rule(rule: AlertRule, update: RuleUpdate) -> AlertRule:
    """``rule`` with the fields ``update`` sets, ``updated_utc`` now (id and point never change)."""
    changes: dict[str, object] = {"updated_utc": utc_now()}
    if update.label is not None:
        changes["label"] = update.label
    if update.condition is not None:
        changes["condition"] = update.condition.model_dump()
    if update.enabled is not None:
        changes["enabled"] = update.enabled
    return rule.replace(**changes)


def native_threshold(condition: ProbabilityCondition | StatisticCondition, native_unit: str) -> float:
    """The condition's threshold in the variable's native unit."""
    return convert_scalar(condition.threshold, condition.unit, native_unit)


def rule_problems(
    condition: ProbabilityCondition | StatisticCondition,
    variables: CanonicalVariables,
    registry: SourceRegistry | None,
) -> list[tuple[str, str]]:
    """(field, message) for each way ``condition`` does not fit the store's config (none: valid)."""
    problems: list[tuple[str, str]] = []
    try:
        variable = variables.get(condition.variable_id)
    except KeyError:
        known = ", ".join(variables.output_variable_ids())
        return [("condition.variable_id", f"unknown variable {condition.variable_id!r}; known: {known}")]
    if not convertible(variable.native_units, condition.unit):
        message = f"{condition.variable_id} is in {variable.native_units}, not {condition.unit}"
        problems.append(("condition.unit", message))
    total = isinstance(condition, ProbabilityCondition) and condition.reduce == "total"
    if total and not is_amount(variable, condition.variable_id):
        problems.append(("condition.reduce", f"'total' sums per-step amounts; {condition.variable_id} is not one"))
    sources = [entry.source_id for entry in registry.sources] if registry is not None else None
    if sources is not None and condition.source not in {CONSENSUS_ID, *sources}:
        known = ", ".join([CONSENSUS_ID, *sources])
        problems.append(("condition.source", f"unknown source {condition.source!r}; known: {known}"))
    return problems


def is_amount(variable: CanonicalVariable, variable_id: str) -> bool:
    """Whether ``variable_id`` holds per-step amounts (not a running total, not an instant value)."""
    return variable.kind == "per_step" and not variable.is_running_total(variable_id)


def dedupe_key(point_id: str, condition: ProbabilityCondition | StatisticCondition, native_unit: str) -> str:
    """Equal for two rules of one point that say the same thing (threshold in native units, to 9
    significant digits)."""
    data = condition.model_dump(mode="json")
    data["threshold"] = float(f"{native_threshold(condition, native_unit):.9g}")
    data["unit"] = native_unit
    text = json.dumps([point_id, data], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def describe(condition: ProbabilityCondition | StatisticCondition, variable_name: str, source_name: str) -> str:
    """One line a person reads: 'P(Snowfall total 0–72 h ≥ 10 mm) ≥ 50 % (consensus)'."""
    window = f"{condition.window.start_hours:g}–{condition.window.end_hours:g} h"
    threshold = f"{condition.comparison} {condition.threshold:g} {label(condition.unit)}".rstrip()
    if isinstance(condition, ProbabilityCondition):
        what = f"{variable_name} {condition.reduce} {window}"
        return f"P({what} {threshold}) ≥ {condition.min_probability:g} % ({source_name})"
    when = "at any time" if condition.when == "any" else "at all times"
    return f"{condition.statistic} {variable_name} {threshold} {when} in {window} ({source_name})"
