"""What the alerts section shows and proposes (pure: contracts in, plain values out, no Panel).

- ``draft_from_strip``: a tapped cell of the probability strip as a rule draft — the chance that
  the row's variable exceeds the row's threshold over that local day (lead hours from the run's
  init, so the rule watches the same day of each new run), from the row's source or the consensus;
- ``rule_rows``: a point's rules with their state in the latest evaluation, and whether they fired
  (or cleared) in the run in force.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forecast_core import units
from forecast_core.alert_status import AlertsStatus
from forecast_core.alerts import AlertRule, describe, is_amount
from forecast_core.registry import CONSENSUS_ID, CanonicalVariables, SourceRegistry
from forecast_panel.frames import MeteogramFrames, StripRow
from forecast_panel.localtime import day_bounds_utc, wall_times

DEFAULT_PROBABILITY = 50.0
HOUR = np.timedelta64(1, "h")


@dataclass(frozen=True, slots=True)
class Draft:
    """The form's values for a new probability rule (threshold in ``unit``)."""

    variable_id: str
    source: str
    reduce: str
    comparison: str
    threshold: float
    unit: str
    start_hours: float
    end_hours: float
    min_probability: float = DEFAULT_PROBABILITY
    label: str = ""

    def condition(self) -> dict[str, Any]:
        """The rule condition's JSON fields."""
        return {
            "kind": "probability",
            "variable_id": self.variable_id,
            "source": self.source,
            "window": {"start_hours": self.start_hours, "end_hours": self.end_hours},
            "reduce": self.reduce,
            "comparison": self.comparison,
            "threshold": self.threshold,
            "unit": self.unit,
            "min_probability": self.min_probability,
        }


def draft_from_strip(
    row: StripRow, day_index: int, zone: str, unit: str, variables: CanonicalVariables, probability: float | None
) -> Draft | None:
    """The rule draft of the strip cell of ``row`` at its ``day_index``-th day (None when the row
    has no init or the day ended before it). The window is the local day's span in lead hours;
    ``probability`` (the cell's, %) rounded down to 10 % is the proposed minimum (50 % without)."""
    days = row.daily.days
    if row.init_time is None or not 0 <= day_index < len(days) or not row.variable_id:
        return None
    start, end = day_bounds_utc(np.asarray(days[day_index : day_index + 1]), zone)
    init = np.datetime64(row.init_time, "ns")
    start_hours = max(0.0, float((start[0] - init) / HOUR))
    end_hours = float((end[0] - init) / HOUR)
    if end_hours <= start_hours:
        return None
    variable = variables.get(row.variable_id)
    minimum = DEFAULT_PROBABILITY
    if probability is not None and math.isfinite(probability) and probability >= 10:
        minimum = float(math.floor(probability / 10) * 10)
    return Draft(
        variable_id=row.variable_id,
        source=row.source_id or CONSENSUS_ID,
        reduce="total" if is_amount(variable, row.variable_id) else "max",
        comparison=">",
        threshold=round(row.threshold, 3),
        unit=unit,
        start_hours=round(start_hours, 2),
        end_hours=round(end_hours, 2),
        min_probability=minimum,
        label=f"{row.label.partition('|')[0]}, hours {start_hours:g}–{end_hours:g}"[:80],
    )


def draft_for_cell(
    frames: MeteogramFrames, index: int, unit_of: Callable[[str], str], variables: CanonicalVariables
) -> Draft | None:
    """The rule draft of the ``index``-th cell of the strip ``frames`` drew (None when the index
    is not a cell, e.g. after the data changed under a tap)."""
    strip = frames.strip
    if not 0 <= index < len(strip.get("y", [])):
        return None
    ys = sorted(frames.strip_axis.ticks)
    y = int(strip["y"][index])
    if y not in ys or ys.index(y) >= len(frames.strip_rows):
        return None
    row = frames.strip_rows[ys.index(y)]
    noon = wall_times(row.daily.noon, frames.zone)
    if noon.size == 0:
        return None
    day = int(np.argmin(np.abs(noon - np.datetime64(strip["x"][index], "ns"))))
    return draft_from_strip(row, day, frames.zone, unit_of(row.variable_id), variables, float(strip["p"][index]))


@dataclass(frozen=True, slots=True)
class RuleRow:
    """One line of a point's rules list."""

    rule_id: str
    text: str
    source: str
    enabled: bool
    state: str  # true / false / unknown / not evaluated
    value: str
    news: str = ""  # 'fired' / 'cleared' in the run in force
    detail: str = ""
    classes: list[str] = field(default_factory=list)


def rule_rows(
    rules: list[AlertRule],
    status: AlertsStatus | None,
    run_id: str | None,
    variables: CanonicalVariables,
    registry: SourceRegistry | None,
) -> list[RuleRow]:
    """A point's rules (sorted by text) with their latest evaluation; ``news`` only when that
    evaluation is of the run in force (``run_id``)."""
    names = {entry.source_id: entry.display_name for entry in registry.sources} if registry else {}
    names[CONSENSUS_ID] = "Consensus"
    evaluated = status.by_rule() if status else {}
    current = status is not None and status.run_id == run_id
    out = []
    for rule in rules:
        condition = rule.condition
        try:
            variable_name = variables.get(condition.variable_id).display_name_of(condition.variable_id)
        except KeyError:
            variable_name = condition.variable_id
        source = names.get(condition.source, condition.source)
        text = rule.label or describe(condition, variable_name, source)
        found = evaluated.get(rule.rule_id)
        same = found is not None and found.revision == rule.revision
        state = found.state if found is not None and same else "not evaluated"
        value = ""
        if same and found is not None and found.value is not None:
            value = f"{found.value:.0f} %" if condition.kind == "probability" else (
                f"{found.value:.1f} {units.label(condition.unit)}")  # fmt: skip
        news = found.transition or "" if same and found is not None and current else ""
        classes = [f"fp-rule-{state.replace(' ', '-')}", *([f"fp-rule-{news}"] if news else [])]
        detail = found.detail if same and found is not None else ""
        out.append(RuleRow(rule.rule_id, text, source, rule.enabled, state, value, news, detail, classes))
    return sorted(out, key=lambda row: row.text.casefold())
