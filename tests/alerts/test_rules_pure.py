"""Rule evaluation (forecast_alerts.evaluate) and state transitions on hand-made ensembles, each
expectation computed independently of the code under test."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from pydantic import ValidationError

from forecast_alerts.evaluate import evaluate
from forecast_alerts.run import next_evaluation
from forecast_core.alert_status import RuleEvaluation
from forecast_core.alerts import (
    AlertRule,
    ProbabilityCondition,
    RulePayload,
    RuleUpdate,
    StatisticCondition,
    dedupe_key,
    rule_problems,
)
from forecast_core.consensus import MemberSeries, pool
from forecast_core.defaults import canonical_variables, pinned_icechunk_source_registry

INIT = np.datetime64("2026-11-24T00:00", "ns")
HOUR = np.timedelta64(1, "h")
WHEN = datetime(2026, 11, 24, tzinfo=UTC)


def series(source_id: str, step_hours: int, last: int, values: np.ndarray, weight: float = 1.0) -> MemberSeries:
    leads = np.arange(0, last + 1, step_hours)
    assert values.shape[0] == leads.size
    return MemberSeries(source_id, INIT, INIT + leads * HOUR, values.astype(float), weight)


def probability(**fields: object) -> ProbabilityCondition:
    base = {"variable_id": "precipitation", "window": {"end_hours": 12}, "reduce": "total", "comparison": ">=",
            "threshold": 10.0, "unit": "mm", "min_probability": 50.0}  # fmt: skip
    return ProbabilityCondition.model_validate({**base, **fields})


def statistic(**fields: object) -> StatisticCondition:
    base = {"variable_id": "temperature_2m", "window": {"end_hours": 12}, "statistic": "median", "comparison": "<",
            "threshold": -20.0, "unit": "degC"}  # fmt: skip
    return StatisticCondition.model_validate({**base, **fields})


def rain() -> MemberSeries:
    """4 members, 3-hourly to 18 h; member totals over (0, 12 h]: 4, 8, 12, 16 mm."""
    steps = np.array([[np.nan] * 4, *([[1.0, 2.0, 3.0, 4.0]] * 6)])
    return series("gefs", 3, 18, steps)


def test_probability_of_a_total_over_the_window() -> None:
    ensemble = pool([rain()], "per_step")
    outcome = evaluate(probability(), ensemble, "mm", consensus=False)
    assert (outcome.holds, outcome.value) == (True, 50.0)  # members 3 and 4 reach 10 mm
    assert "total over 0–12 h" in outcome.detail
    assert evaluate(probability(threshold=1.0, unit="cm"), ensemble, "mm", consensus=False).value == 50.0
    assert evaluate(probability(min_probability=51.0), ensemble, "mm", consensus=False).holds is False
    assert evaluate(probability(comparison="<", threshold=5.0), ensemble, "mm", consensus=False).value == 25.0


def test_window_start_and_members_with_a_gap() -> None:
    steps = np.array([[np.nan] * 4, *([[1.0, 2.0, 3.0, 4.0]] * 6)])
    steps[5, 0] = np.nan  # member 1 misses the step ending at 15 h
    ensemble = pool([series("gefs", 3, 18, steps)], "per_step")
    later = probability(window={"start_hours": 6, "end_hours": 18}, threshold=8.0)  # totals 4, 8, 12, 16 (member 1 out)
    outcome = evaluate(later, ensemble, "mm", consensus=False)
    assert outcome.value == pytest.approx(100.0) and "3 members" in outcome.detail


def test_consensus_probability_gives_each_source_its_weight() -> None:
    gefs = rain()
    ifs = series("ifs", 6, 18, np.array([[np.nan] * 2, [0.0, 6.0], [0.0, 6.0], [0.0, 6.0]]))  # totals 0, 12
    equal = pool([gefs, ifs], "per_step")
    # GEFS: 2 of 4 members reach 10 mm (share 0.5), IFS: 1 of 2 (0.5) → 50 %
    assert evaluate(probability(), equal, "mm", consensus=True).value == pytest.approx(50.0)
    # 3:1 weights: 0.75·0.5 + 0.25·0.5 = 50 %; threshold 14 mm: GEFS 1/4, IFS 0/2 → 0.75·0.25 = 18.75 %
    weighted = pool([series("gefs", 3, 18, gefs.values, 3.0), series("ifs", 6, 18, ifs.values, 1.0)], "per_step")
    assert evaluate(probability(threshold=14.0), weighted, "mm", consensus=True).value == pytest.approx(18.75)


def test_a_window_past_the_forecast_has_no_data() -> None:
    outcome = evaluate(probability(window={"end_hours": 24}), pool([rain()], "per_step"), "mm", consensus=False)
    assert outcome.holds is None and "reaches 18 h" in outcome.detail
    assert evaluate(probability(), pool([], "per_step"), "mm", consensus=True).holds is None


def test_statistic_any_and_all_against_numpy() -> None:
    rng = np.random.default_rng(11)
    values = rng.normal(-18.0, 3.0, size=(7, 9))
    ensemble = pool([series("gefs", 3, 18, values)], "instant")
    medians = np.quantile(values[:5], 0.5, axis=1)  # rows at 0 … 12 h
    outcome = evaluate(statistic(), ensemble, "degC", consensus=False)
    assert outcome.value == pytest.approx(medians.min(), abs=1e-4)
    assert outcome.holds is bool((medians < -20).any())
    every = evaluate(statistic(when="all", comparison=">", threshold=-25.0), ensemble, "degC", consensus=False)
    assert every.value == pytest.approx(medians.min(), abs=1e-4) and every.holds is bool((medians > -25).all())
    in_f = evaluate(statistic(threshold=-4.0, unit="degF"), ensemble, "degC", consensus=False)
    assert in_f.value == pytest.approx(medians.min() * 9 / 5 + 32, abs=1e-4)  # values are kept to 4 decimals


def test_consensus_statistic_uses_the_weighted_quantile() -> None:
    a = series("a", 3, 12, np.array([[1.0, 2.0, 3.0]] * 5))
    b = series("b", 3, 12, np.array([[10.0]] * 5))
    ensemble = pool([a, b], "instant")
    # weights 1/6, 1/6, 1/6, 1/2: F = 1/6, 2/6, 3/6 at 3.0 → the median is 3.0; q75 is 10.0
    assert evaluate(statistic(comparison=">", threshold=0.0), ensemble, "degC", consensus=True).value == 3.0
    assert evaluate(statistic(statistic="q75", comparison=">", threshold=0.0), ensemble, "degC", True).value == 10.0


def rule(condition: ProbabilityCondition | StatisticCondition) -> AlertRule:
    return AlertRule(rule_id="rule-0123456789ab", point_id="alpha", condition=condition, created_by="tests",
                     created_utc=WHEN, updated_utc=WHEN)  # fmt: skip


@pytest.mark.parametrize(
    ("before", "holds", "state", "transition"),
    [
        (None, True, "true", "fired"),
        (None, False, "false", None),
        ("false", True, "true", "fired"),
        ("true", True, "true", None),
        ("true", False, "false", "cleared"),
        ("true", None, "true", None),  # no data keeps the state
        ("unknown", None, "unknown", None),
    ],
)
def test_transitions(before: str | None, holds: bool | None, state: str, transition: str | None) -> None:
    from forecast_alerts.evaluate import Outcome

    subject = rule(probability())
    previous = None
    if before is not None:
        previous = RuleEvaluation.model_validate({"rule_id": subject.rule_id, "point_id": "alpha",
                                                  "revision": subject.revision, "state": before,
                                                  "since_run_id": "20261124T070000Z"})  # fmt: skip
    result = next_evaluation(subject, Outcome(holds, 1.0), previous, "20261125T070000Z", ["gefs"])
    assert (result.state, result.transition, result.has_data) == (state, transition, holds is not None)
    if transition is not None:
        assert result.since_run_id == "20261125T070000Z"


def test_a_changed_condition_forgets_the_old_state() -> None:
    from forecast_alerts.evaluate import Outcome

    old = rule(probability())
    previous = RuleEvaluation(rule_id=old.rule_id, point_id="alpha", revision=old.revision, state="true")
    changed = rule(probability(threshold=12.0))
    assert next_evaluation(changed, Outcome(True), previous, "20261125T070000Z", []).transition == "fired"
    relabelled = old.replace(label="Heavy rain")
    assert relabelled.revision == old.revision
    assert next_evaluation(relabelled, Outcome(True), previous, "20261125T070000Z", []).transition is None


def test_model_validation_and_config_problems() -> None:
    with pytest.raises(ValidationError, match="end_hours must be after start_hours"):
        probability(window={"start_hours": 24, "end_hours": 12})
    with pytest.raises(ValidationError):
        probability(min_probability=0)
    with pytest.raises(ValidationError, match="label contains a control"):
        RulePayload.model_validate({"point_id": "a", "created_by": "t", "label": "x\x00",
                                    "condition": probability().model_dump()})  # fmt: skip
    with pytest.raises(ValidationError, match="at least one of"):
        RuleUpdate.model_validate({})
    variables, registry = canonical_variables(), pinned_icechunk_source_registry()
    assert rule_problems(probability(), variables, registry) == []
    problems = dict(rule_problems(probability(variable_id="temperature_2m", source="nam"), variables, registry))
    assert set(problems) == {"condition.unit", "condition.reduce", "condition.source"}
    assert (
        "precipitation_total"
        in dict(rule_problems(probability(variable_id="rain"), variables, None))["condition.variable_id"]
    )
    total = probability(variable_id="precipitation_total")
    assert "is not one" in dict(rule_problems(total, variables, None))["condition.reduce"]


def test_dedupe_key_compares_thresholds_in_native_units() -> None:
    ten_mm = dedupe_key("alpha", probability(), "mm")
    assert dedupe_key("alpha", probability(threshold=1.0, unit="cm"), "mm") == ten_mm
    assert dedupe_key("alpha", probability(threshold=1.01, unit="cm"), "mm") != ten_mm
    assert dedupe_key("bravo", probability(), "mm") != ten_mm


@pytest.mark.parametrize("seed", range(5))
def test_linear_quantile_equals_numpy_nanquantile(seed: int) -> None:
    import warnings

    from forecast_alerts.evaluate import linear_quantile

    rng = np.random.default_rng(seed)
    block = rng.normal(size=(50, int(rng.integers(1, 60))))
    block[rng.random(block.shape) < 0.2] = np.nan
    block[3] = np.nan
    for level in (0.1, 0.25, 0.5, 0.75, 0.9):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = np.nanquantile(block, level, axis=1)
        np.testing.assert_array_equal(linear_quantile(block, level), expected)
