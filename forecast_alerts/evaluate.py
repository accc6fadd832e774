"""Pure evaluation of one rule condition on an ensemble (no I/O; ``forecast_core.alerts`` defines
what the conditions mean).

The ensemble is a ``forecast_core.consensus.Pooled`` in the variable's native unit: the pooled
members of every source for a ``consensus`` rule, or one source's members (equal weights) for a
source rule. The window is taken from the ensemble's init (the consensus: its newest init):

- instantaneous values and statistics: valid times in ``[init + start, init + end]``;
- ``total`` of per-step amounts: the steps in ``(init + start, init + end]`` (steps are the
  ensemble's ``window_starts``; a window whose end is not a step boundary ends at the last
  boundary before it, and the detail says which window was summed).

A window the forecast does not reach (its last valid time is before ``init + end``) has no
data, as has a member with a missing value in it (left out; every contributing source must keep
at least one member). Statistics: a consensus uses its weighted definitions
(``forecast_core.consensus``); one source uses numpy's default quantiles, as ``ensemble_summary``
does, so a rule reads the numbers the meteogram draws.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from forecast_core.alerts import STATISTIC_LEVELS, ProbabilityCondition, StatisticCondition
from forecast_core.consensus import FloatArray, Pooled, holds, weighted_quantiles
from forecast_core.units import convert_scalar, label

HOUR = np.timedelta64(3600, "s")
IndexArray = npt.NDArray[np.intp]
REDUCTIONS: Final[dict[str, Callable[..., FloatArray]]] = {
    "total": np.sum,
    "min": np.min,
    "max": np.max,
    "mean": np.mean,
}
NAN_STATISTICS: Final[dict[str, Callable[..., FloatArray]]] = {"mean": np.nanmean, "min": np.nanmin, "max": np.nanmax}
PROBABILITY_ROUNDING = 1e-9


@dataclass(frozen=True, slots=True)
class Outcome:
    """``holds`` is None when the ensemble has no data for the condition (``detail`` says why)."""

    holds: bool | None
    value: float | None = None
    detail: str = ""


def _at(init: np.datetime64, hours: float) -> np.datetime64:
    return init + np.timedelta64(round(hours * 3600), "s")


def _hours(init: np.datetime64, moment: np.datetime64) -> float:
    return float((moment - init) / HOUR)


def window_rows(condition: ProbabilityCondition | StatisticCondition, ensemble: Pooled, amounts: bool) -> IndexArray:
    """Indices of the ensemble's rows inside the condition's window (empty: not covered)."""
    if ensemble.empty or ensemble.init_time is None:
        return np.empty(0, np.int64)
    start = _at(ensemble.init_time, condition.window.start_hours)
    end = _at(ensemble.init_time, condition.window.end_hours)
    if ensemble.valid_times[-1] < end:
        return np.empty(0, np.int64)
    times = ensemble.valid_times
    if amounts:
        if ensemble.window_starts is None:
            return np.empty(0, np.int64)
        inside = (ensemble.window_starts >= start) & (times <= end)
    else:
        inside = (times >= start) & (times <= end)
    return np.flatnonzero(inside)


def evaluate(
    condition: ProbabilityCondition | StatisticCondition, ensemble: Pooled, native_unit: str, consensus: bool
) -> Outcome:
    """The condition's truth and value on ``ensemble`` (values in ``native_unit``)."""
    threshold = convert_scalar(condition.threshold, condition.unit, native_unit)
    if isinstance(condition, ProbabilityCondition):
        return _probability(condition, ensemble, threshold)
    return _statistic(condition, ensemble, threshold, native_unit, consensus)


def _no_data(condition: ProbabilityCondition | StatisticCondition, ensemble: Pooled) -> Outcome:
    if ensemble.empty or ensemble.init_time is None:
        return Outcome(None, detail="no forecast for this point and variable")
    reach = _hours(ensemble.init_time, ensemble.valid_times[-1])
    if reach < condition.window.end_hours:
        return Outcome(
            None, detail=f"the forecast reaches {reach:g} h, the window ends at {condition.window.end_hours:g} h"
        )
    return Outcome(None, detail="no valid time inside the window")


def _probability(condition: ProbabilityCondition, ensemble: Pooled, threshold: float) -> Outcome:
    amounts = condition.reduce == "total"
    rows = window_rows(condition, ensemble, amounts)
    if rows.size == 0:
        return _no_data(condition, ensemble)
    block = ensemble.values[rows]
    reduced = REDUCTIONS[condition.reduce](block, axis=0)
    complete = np.isfinite(reduced)
    weights = member_weights(ensemble, complete)
    if weights is None:
        return Outcome(None, detail="a source has no member with values over the whole window")
    share = float(weights[complete & holds(reduced, condition.comparison, threshold)].sum())
    percent = 100.0 * share
    assert ensemble.init_time is not None
    first = (
        ensemble.window_starts[rows[0]]
        if amounts and ensemble.window_starts is not None
        else ensemble.valid_times[rows[0]]
    )
    window = f"{_hours(ensemble.init_time, first):g}–{_hours(ensemble.init_time, ensemble.valid_times[rows[-1]]):g} h"
    members = int(complete.sum())
    detail = f"{percent:.0f} % of {members} members, {condition.reduce} over {window}"
    return Outcome(percent + PROBABILITY_ROUNDING * 100 >= condition.min_probability, round(percent, 3), detail)


def member_weights(ensemble: Pooled, complete: np.ndarray) -> FloatArray | None:
    """Each member's weight over a window: its source's weight shared by the source's complete
    members, normalised; None when a contributing source has no complete member."""
    weights = np.zeros(complete.shape)
    for index, weight in enumerate(ensemble.source_weights):
        mine = complete & (ensemble.member_source == index)
        count = int(mine.sum())
        if count == 0:
            return None
        weights[mine] = weight / count
    total = weights.sum()
    return weights / total if total > 0 else None


def statistic_series(ensemble: Pooled, rows: IndexArray, statistic: str, consensus: bool) -> FloatArray:
    """The statistic across members at each of ``rows`` (NaN where no member has a value)."""
    block = ensemble.values[rows]
    if consensus:
        weights = ensemble.weights[rows]
        if statistic in STATISTIC_LEVELS:
            return weighted_quantiles(block, weights, [STATISTIC_LEVELS[statistic]])[:, 0]
        present = np.isfinite(block) & (weights > 0)
        if statistic == "mean":
            total = np.where(present, weights, 0.0).sum(axis=1)
            weighted = np.where(present, block * weights, 0.0).sum(axis=1)
            return np.divide(weighted, total, out=np.full(total.shape, np.nan), where=total > 0)
        block = np.where(present, block, np.nan)
    if statistic in STATISTIC_LEVELS:
        return linear_quantile(block, STATISTIC_LEVELS[statistic])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN, as wanted
        return np.asarray(NAN_STATISTICS[statistic](block, axis=1), dtype=np.float64)


def linear_quantile(block: FloatArray, level: float) -> FloatArray:
    """Per row, numpy's default (linear) quantile of the finite values; NaN for a row without any.
    Equal to ``numpy.nanquantile(block, level, axis=1)``, in one sort instead of a loop over rows."""
    ordered = np.sort(block, axis=1)  # NaN last
    count = np.isfinite(ordered).sum(axis=1)
    position = (np.maximum(count, 1) - 1) * level
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, np.maximum(count - 1, 0))
    rows = np.arange(block.shape[0])
    below, above = ordered[rows, low], ordered[rows, high]
    share, step = position - low, above - below
    value = np.where(share >= 0.5, above - step * (1 - share), below + step * share)  # numpy's own lerp
    return np.where(count > 0, value, np.nan)


def _statistic(
    condition: StatisticCondition, ensemble: Pooled, threshold: float, native_unit: str, consensus: bool
) -> Outcome:
    rows = window_rows(condition, ensemble, amounts=False)
    series = statistic_series(ensemble, rows, condition.statistic, consensus) if rows.size else np.empty(0)
    finite = np.isfinite(series)
    if not finite.any() or (condition.when == "all" and not finite.all()):
        return _no_data(condition, ensemble)
    rows, series = rows[finite], series[finite]
    hits = holds(series, condition.comparison, threshold)
    below = condition.comparison in ("<", "<=")
    # "any": the value nearest to making the rule true; "all": the one furthest from it
    pick = int(np.argmin(series) if below == (condition.when == "any") else np.argmax(series))
    value = convert_scalar(float(series[pick]), native_unit, condition.unit)
    truth = bool(hits.any() if condition.when == "any" else hits.all())
    assert ensemble.init_time is not None
    lead = _hours(ensemble.init_time, ensemble.valid_times[rows[pick]])
    detail = f"{condition.statistic} {value:.1f} {label(condition.unit)} at {lead:g} h".replace("  ", " ")
    return Outcome(truth, round(value, 4), detail)
