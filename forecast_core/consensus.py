"""The consensus: every enabled source's members pooled at the valid times they share (pure numpy).

Used by the app (the meteogram's consensus boxes and probability strip) and by the alert
evaluator, both from the members they read out of ``points`` artifacts; nothing is stored.

**Pooling.** Each contributing source ``s`` has a weight ``w_s`` (``SourceEntry.consensus_weight``,
1 by default: equal weight per source, whatever its member count). At a valid time, the ``n_s``
members of ``s`` that have a value share ``w_s`` equally, and weights are normalised to sum to 1:
member weight ``w_s / (n_s · Σ w)``. A source contributes when its weight is positive and it has
any value; the others are listed in ``Pooled.left_out`` with the reason.

**Valid times.** Only valid times every contributing source covers (has a value at) count. How a
value at a valid time ``t`` is aligned depends on the variable:

- instantaneous: the members' values at ``t``;
- per-step amount: the amount over ``(t_prev, t]``, where ``t_prev`` is the previous valid time all
  sources share: a source with finer steps contributes the sum of its steps in that window (a
  3-hourly source and a 6-hourly one pool 6-hour amounts), NaN if any of them is missing. The
  first shared time has no window and is dropped;
- running total (since init): only sources with the newest init pool (a total since another init
  measures another window); the others are left out.

Where horizons differ, ``Pooled.beyond`` says which sources go on past the consensus's last time.

**Weighted quantile** (``weighted_quantiles``). Sort one valid time's values ``x_(1) ≤ … ≤ x_(n)``
with their normalised weights, and let ``F_k = w_(1) + … + w_(k)``. For ``0 < p ≤ 1``::

    Q(p) = x_(k*),   k* = min { k : F_k ≥ p }

the inverse of the weighted empirical distribution function (Hyndman & Fan type 1); ``Q(0)`` is
the smallest value. ``F`` is a float64 cumulative sum, so ``F_k ≥ p`` is tested as
``F_k ≥ p − 1e-9``: sums that equal ``p`` exactly in real arithmetic stay equal. With integer
weights ``m_i`` this equals ``numpy.quantile(numpy.repeat(x, m), p, method="inverted_cdf")``
(tested). Note that the per-source boxes of ``ensemble_summary`` use numpy's default linear
interpolation, which has no weighted form that agrees with replication; a consensus of one source
therefore reads member values rather than interpolating between them.

**Exceedance** (``probability``): the total weight of the members for which a comparison holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from forecast_core.registry import CanonicalVariable, SourceRegistry

Alignment = Literal["instant", "per_step", "running_total"]
IntArray = npt.NDArray[np.int64]
Comparison = Literal[">", ">=", "<", "<="]
FloatArray = npt.NDArray[np.float64]
TimeArray = npt.NDArray[np.datetime64]

SUMMARY_LEVELS: Final = {"q10": 0.10, "q25": 0.25, "median": 0.50, "q75": 0.75, "q90": 0.90}
ROUNDING: Final = 1e-9


@dataclass(frozen=True, slots=True)
class MemberSeries:
    """One source's members for one point and variable.

    ``values[i, m]`` is member ``m`` at ``valid_times[i]`` (ascending, ``datetime64[ns]``, UTC),
    NaN where the member has no value; ``weight`` is the source's consensus weight.
    """

    source_id: str
    init_time: np.datetime64
    valid_times: TimeArray
    values: FloatArray
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[0] != self.valid_times.shape[0]:
            raise ValueError(f"{self.source_id}: values must be (valid time, member), one row per valid time")


@dataclass(frozen=True, slots=True)
class Pooled:
    """The pooled members at the shared valid times: ``values`` and ``weights`` are (time, member),
    each row's weights sum to 1 (0 where a member has no value). Column ``m`` belongs to source
    ``source_ids[member_source[m]]``; per-step amounts at row ``i`` fall in
    ``(window_starts[i], valid_times[i]]``."""

    valid_times: TimeArray
    values: FloatArray
    weights: FloatArray
    source_ids: tuple[str, ...]
    init_time: np.datetime64 | None  # the newest init among the contributing sources
    member_source: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    source_weights: tuple[float, ...] = ()
    window_starts: TimeArray | None = None  # per-step amounts only
    member_counts: dict[str, int] = field(default_factory=dict)  # per source, members with a value anywhere
    beyond: dict[str, np.datetime64] = field(default_factory=dict)  # source → its last valid time past ours
    left_out: dict[str, str] = field(default_factory=dict)  # source → why it does not contribute

    @property
    def empty(self) -> bool:
        return self.valid_times.size == 0


def member_series(
    source_id: str,
    valid_times: npt.ArrayLike,
    members: npt.ArrayLike,
    values: npt.ArrayLike,
    init_time: npt.ArrayLike | None = None,
    weight: float = 1.0,
) -> MemberSeries:
    """A source's ``MemberSeries`` from flat columns of one point (a ``points`` artifact's rows
    in any order: one value per valid time and member; a missing pair is NaN). Rows in the
    writers' order (by time, then member, every member at every time) are reshaped directly."""
    times = np.asarray(valid_times, dtype="datetime64[ns]")
    member_ids = np.asarray(members)
    data = np.asarray(values, dtype=np.float64)
    shaped = _reshaped(times, member_ids, data)
    if shaped is None:
        time_axis, time_index = np.unique(times, return_inverse=True)
        member_axis, member_index = np.unique(member_ids, return_inverse=True)
        matrix = np.full((time_axis.size, member_axis.size), np.nan)
        matrix[time_index, member_index] = data
        shaped = time_axis, matrix
    time_axis, matrix = shaped
    init: np.datetime64 = (
        np.asarray(init_time, dtype="datetime64[ns]").reshape(-1)[0]
        if init_time is not None
        else (time_axis[0] if time_axis.size else np.datetime64("NaT", "ns"))
    )
    return MemberSeries(source_id, init, time_axis, matrix, weight)


def _reshaped(times: TimeArray, members: np.ndarray, values: FloatArray) -> tuple[TimeArray, FloatArray] | None:
    """(times, values (time, member)) when the rows are every member at every time, sorted by
    time and then member; None otherwise."""
    if times.size == 0 or not (times[1:] >= times[:-1]).all():
        return None
    count = int((times[1:] != times[:-1]).sum()) + 1
    if times.size % count:
        return None
    width = times.size // count
    grid = times.reshape(count, width)
    order = members[:width]
    if not ((grid == grid[:, :1]).all() and (order[1:] > order[:-1]).all()):
        return None
    if not np.array_equal(members.reshape(count, width), np.broadcast_to(order, (count, width))):
        return None
    return grid[:, 0].copy(), values.reshape(count, width)


def _empty(left_out: dict[str, str]) -> Pooled:
    return Pooled(np.empty(0, "datetime64[ns]"), np.empty((0, 0)), np.empty((0, 0)), (), None, left_out=dict(left_out))


def pool(series: Sequence[MemberSeries], alignment: Alignment) -> Pooled:
    """Pool ``series`` (one per source) at the valid times they all cover; see the module docstring."""
    left_out: dict[str, str] = {}
    usable = []
    for item in series:
        if item.weight <= 0:
            left_out[item.source_id] = "consensus weight 0"
        elif not np.isfinite(item.values).any():
            left_out[item.source_id] = "no data"
        else:
            usable.append(item)
    if alignment == "running_total" and usable:
        newest = max(item.init_time for item in usable)
        left_out.update({item.source_id: "other init" for item in usable if item.init_time != newest})
        usable = [item for item in usable if item.init_time == newest]
    if not usable:
        return _empty(left_out)
    shared: TimeArray = (
        usable[0].valid_times if len(usable) == 1 else reduce(np.intersect1d, [item.valid_times for item in usable])
    )
    aligned = [_aligned(item, shared, alignment) for item in usable]
    starts = shared[:-1] if alignment == "per_step" else None
    if alignment == "per_step":
        shared = shared[1:]
    covered = np.logical_and.reduce([np.isfinite(values).any(axis=1) for values in aligned])
    times = shared[covered]
    blocks = [values[covered] for values in aligned]
    weights = [_member_weights(values, item.weight) for values, item in zip(blocks, usable, strict=True)]
    values = np.concatenate(blocks, axis=1)
    weight = np.concatenate(weights, axis=1)
    total = weight.sum(axis=1, keepdims=True)
    weight = np.divide(weight, total, out=np.zeros_like(weight), where=total > 0)
    last = times[-1] if times.size else None
    counts = {
        item.source_id: int(np.isfinite(block).any(axis=0).sum()) for item, block in zip(usable, blocks, strict=True)
    }
    return Pooled(
        valid_times=times,
        values=values,
        weights=weight,
        source_ids=tuple(item.source_id for item in usable),
        init_time=max(item.init_time for item in usable),
        member_source=np.concatenate([np.full(b.shape[1], i, np.int64) for i, b in enumerate(blocks)]),
        source_weights=tuple(float(item.weight) for item in usable),
        window_starts=starts[covered] if starts is not None else None,
        member_counts=counts,
        beyond={
            item.source_id: item.valid_times[-1] for item in usable if last is not None and item.valid_times[-1] > last
        },
        left_out=left_out,
    )


def _aligned(item: MemberSeries, shared: TimeArray, alignment: Alignment) -> FloatArray:
    """The source's values at ``shared`` (per-step: summed over the windows between them)."""
    values = np.asarray(item.values, dtype=np.float64)
    if shared.size == item.valid_times.size:  # the source's own times (one source, or equal grids)
        return values[1:] if alignment == "per_step" else values
    rows = np.searchsorted(item.valid_times, shared)
    if alignment != "per_step":
        return values[rows]
    if rows.size < 2:
        return np.empty((0, values.shape[1]))
    # rows (previous shared time, this one]: a NaN step makes the window NaN
    sums: FloatArray = np.add.reduceat(values[: rows[-1] + 1], rows[:-1] + 1, axis=0)
    return sums


def _member_weights(values: FloatArray, source_weight: float) -> FloatArray:
    """``source_weight`` shared equally by the members with a value, per row."""
    present = np.isfinite(values)
    count = present.sum(axis=1, keepdims=True)
    share = np.divide(source_weight, count, out=np.zeros(count.shape), where=count > 0)
    return np.where(present, share, 0.0)


def weighted_quantiles(values: FloatArray, weights: FloatArray, levels: Sequence[float]) -> FloatArray:
    """(row, level) weighted quantiles of each row of ``values`` (module docstring's definition).

    ``weights`` are non-negative, row by row (normalised here); NaN values and zero weights are
    ignored. A row with no weight gives NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    weights = np.where(np.isfinite(values), np.asarray(weights, dtype=np.float64), 0.0)
    order = np.argsort(np.where(weights > 0, values, np.inf), axis=1, kind="stable")
    ordered = np.take_along_axis(values, order, axis=1)
    cumulative = np.cumsum(np.take_along_axis(weights, order, axis=1), axis=1)
    total = cumulative[:, -1:] if cumulative.shape[1] else np.zeros((values.shape[0], 1))
    fraction = np.divide(cumulative, total, out=np.zeros_like(cumulative), where=total > 0)
    out = np.full((values.shape[0], len(levels)), np.nan)
    has_weight = total[:, 0] > 0
    for column, level in enumerate(levels):
        if not 0.0 <= level <= 1.0:
            raise ValueError(f"quantile level {level} outside [0, 1]")
        index = np.minimum((fraction < level - ROUNDING).sum(axis=1), values.shape[1] - 1)
        picked = np.take_along_axis(ordered, index[:, None], axis=1)[:, 0]
        out[:, column] = np.where(has_weight, picked, np.nan)
    return out


def holds(values: FloatArray, comparison: Comparison, threshold: float) -> npt.NDArray[np.bool_]:
    """Where ``values comparison threshold`` holds (False where NaN)."""
    with np.errstate(invalid="ignore"):
        if comparison == ">":
            return values > threshold
        if comparison == ">=":
            return values >= threshold
        if comparison == "<":
            return values < threshold
        return values <= threshold


def probability(values: FloatArray, weights: FloatArray, comparison: Comparison, threshold: float) -> FloatArray:
    """Per row, the share of weight (0–1) of the members for which ``comparison`` holds; members
    without a value are ignored; NaN for a row with no value at all."""
    weights = np.where(np.isfinite(values), weights, 0.0)
    total = weights.sum(axis=1)
    hits = np.where(holds(values, comparison, threshold), weights, 0.0).sum(axis=1)
    return np.divide(hits, total, out=np.full(total.shape, np.nan), where=total > 0)


def box_statistics(values: FloatArray, weights: FloatArray) -> dict[str, FloatArray]:
    """Per row: min, q10 … q90 (weighted, module docstring), max, the weighted mean and
    ``member_count`` (members with a value and weight), like ``ensemble_summary``; NaN where a
    row has none."""
    present = np.isfinite(values) & (weights > 0)
    quantiles = weighted_quantiles(values, weights, list(SUMMARY_LEVELS.values()))
    with np.errstate(invalid="ignore"):
        low = np.where(present, values, np.inf).min(axis=1, initial=np.inf)
        high = np.where(present, values, -np.inf).max(axis=1, initial=-np.inf)
        mean = np.where(present, values * weights, 0.0).sum(axis=1) / np.where(present, weights, 0.0).sum(axis=1)
    stats = {name: quantiles[:, index] for index, name in enumerate(SUMMARY_LEVELS)}
    return {
        "min": np.where(np.isfinite(low), low, np.nan),
        **stats,
        "max": np.where(np.isfinite(high), high, np.nan),
        "mean": mean,
        "member_count": present.sum(axis=1).astype(np.float64),
    }


def summary(pooled: Pooled) -> dict[str, FloatArray]:
    """Box statistics per shared valid time (``box_statistics`` of the pooled members)."""
    return box_statistics(pooled.values, pooled.weights)


@dataclass(frozen=True, slots=True)
class Weighting:
    """How a pooled member matrix's columns are weighted: column ``m`` belongs to source
    ``member_source[m]`` of weight ``source_weights[…]``. For any rows of such columns (per-day
    values, say), ``rows`` gives each source's weight shared by its members that have a value."""

    member_source: IntArray
    source_weights: tuple[float, ...]

    @classmethod
    def of(cls, pooled: Pooled) -> Weighting:
        return cls(pooled.member_source, pooled.source_weights)

    def rows(self, values: FloatArray) -> FloatArray:
        weights = np.zeros(values.shape)
        for index, weight in enumerate(self.source_weights):
            columns = self.member_source == index
            weights[:, columns] = _member_weights(values[:, columns], weight)
        total = weights.sum(axis=1, keepdims=True)
        return np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)


def consensus_sources(registry: SourceRegistry | None, listed: Sequence[str]) -> list[tuple[str, float]]:
    """(source id, weight) of the consensus among the ``listed`` sources of a run: the ones the
    registry enables, in its order (every listed source, weight 1, without a registry)."""
    if registry is None:
        return [(source_id, 1.0) for source_id in sorted(listed)]
    weights = registry.consensus_weights()
    return [(source_id, weights[source_id]) for source_id in weights if source_id in set(listed)]


def alignment_of(variable: CanonicalVariable, variable_id: str) -> Alignment:
    """How ``variable_id`` (the variable or its running total) pools: per-step amounts, running
    totals or instantaneous values."""
    if variable.is_running_total(variable_id):
        return "running_total"
    return "per_step" if variable.kind == "per_step" else "instant"
