"""Evaluation of the derivation vocabulary of ``forecast_core.registry`` (pure numpy, no I/O).

Every array here is in the *canonical order* ``(member, lead, *space)``: axis 0 is the ensemble
member, axis 1 the lead time, and any further axes are spatial (points, or latitude × longitude).
Values are float64 internally; NaN means "no data" and propagates through every node except the
running total, which treats a missing step inside the ingested range as zero.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from forecast_core.registry import (
    ClipNode,
    FieldNode,
    HypotNode,
    InCodesNode,
    LinearNode,
    MultiplyNode,
    Node,
    ReplaceBelowNode,
    StepAmountNode,
    node_children,
)

FloatArray = npt.NDArray[np.float64]
LEAD_AXIS = 1


class DerivationError(ValueError):
    """A derivation cannot be evaluated (missing field or unknown node)."""


class UnitMismatch(DerivationError):
    """A ``field`` node names units that differ from the store variable's ``units`` attribute."""


class MissingVariable(DerivationError):
    """A ``field`` node names a variable the store does not have."""


def check_fields(node: Node, attributes: Mapping[str, Mapping[str, object]]) -> None:
    """Check every ``field`` of ``node`` against the store's variables and their attributes.

    ``attributes`` maps store variable name → its attrs. Raises MissingVariable for an absent
    variable and UnitMismatch when a node's ``units`` differs from the attr ``units``.
    """
    if isinstance(node, FieldNode):
        if node.variable not in attributes:
            raise MissingVariable(f"store has no variable {node.variable!r}")
        actual = attributes[node.variable].get("units")
        if node.units is not None and actual != node.units:
            raise UnitMismatch(f"{node.variable}: store units {actual!r}, derivation expects {node.units!r}")
        return
    for child in node_children(node):
        check_fields(child, attributes)


def step_seconds(lead_seconds: npt.ArrayLike) -> FloatArray:
    """Length in seconds of the step ending at each lead; NaN at the first lead (no step)."""
    leads = np.asarray(lead_seconds, dtype=np.float64)
    steps = np.full(leads.shape, np.nan)
    steps[1:] = np.diff(leads)
    return steps


def _along_lead(vector: FloatArray, ndim: int) -> FloatArray:
    shape = [1] * ndim
    shape[LEAD_AXIS] = vector.size
    return vector.reshape(shape)


def evaluate(
    node: Node, fields: Mapping[str, npt.ArrayLike], steps: FloatArray, memo: dict[str, FloatArray] | None = None
) -> FloatArray:
    """Value of ``node`` given raw ``fields`` (canonical order) and ``steps`` (see step_seconds).

    ``memo`` (optional, per block of fields) reuses results of identical sub-derivations across
    variables, e.g. the precipitation amount that snowfall multiplies. Results must not be mutated.
    """
    if memo is None:
        return _evaluate(node, fields, steps, None)
    key = node.model_dump_json()
    if key not in memo:
        memo[key] = _evaluate(node, fields, steps, memo)
    return memo[key]


def _evaluate(
    node: Node, fields: Mapping[str, npt.ArrayLike], steps: FloatArray, memo: dict[str, FloatArray] | None
) -> FloatArray:
    if isinstance(node, FieldNode):
        if node.variable not in fields:
            raise MissingVariable(f"field {node.variable!r} was not read")
        return np.asarray(fields[node.variable], dtype=np.float64)
    combine = _COMBINE.get(type(node))
    if combine is None:
        raise DerivationError(f"unknown node {type(node).__name__}")
    return combine(node, lambda child: evaluate(child, fields, steps, memo), steps)


Child = Callable[[Node], FloatArray]


def _step_amount(node: StepAmountNode, child: Child, steps: FloatArray) -> FloatArray:
    rate = child(node.of)
    return rate * _along_lead(steps, rate.ndim)


def _hypot(node: HypotNode, child: Child, _steps: FloatArray) -> FloatArray:
    return np.hypot(child(node.x), child(node.y))


def _multiply(node: MultiplyNode, child: Child, _steps: FloatArray) -> FloatArray:
    product = child(node.factors[0])
    for factor in node.factors[1:]:
        product = product * child(factor)
    return product


def _linear(node: LinearNode, child: Child, _steps: FloatArray) -> FloatArray:
    return child(node.of) * node.scale + node.offset


def _clip(node: ClipNode, child: Child, _steps: FloatArray) -> FloatArray:
    low = -np.inf if node.minimum is None else node.minimum
    high = np.inf if node.maximum is None else node.maximum
    return np.clip(child(node.of), low, high)


def _in_codes(node: InCodesNode, child: Child, _steps: FloatArray) -> FloatArray:
    values = child(node.of)
    finite = np.isfinite(values)
    hit = np.isin(np.round(np.where(finite, values, 0.0)), node.codes)
    return np.where(finite, hit.astype(np.float64), np.nan)


def _replace_below(node: ReplaceBelowNode, child: Child, _steps: FloatArray) -> FloatArray:
    values = child(node.of)
    with np.errstate(invalid="ignore"):
        return np.where(values < node.threshold, node.value, values)


_COMBINE: dict[type, Callable[[Any, Child, FloatArray], FloatArray]] = {
    StepAmountNode: _step_amount,
    HypotNode: _hypot,
    MultiplyNode: _multiply,
    LinearNode: _linear,
    ClipNode: _clip,
    InCodesNode: _in_codes,
    ReplaceBelowNode: _replace_below,
}
"""How each derivation node combines its children's values (one pure function per node kind)."""


def ingested_mask(lead_seconds: npt.ArrayLike, ingested_seconds: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """``(member, lead)`` mask of leads written: lead ≤ the member's ingested forecast length.

    ``ingested_seconds`` has one value per member (GEFS) or a scalar (IFS ENS); NaN (NaT) means
    nothing was ingested for that member.
    """
    leads = np.asarray(lead_seconds, dtype=np.float64)
    ingested = np.atleast_1d(np.asarray(ingested_seconds, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        return leads[None, :] <= ingested[:, None]


def running_total(step_values: npt.ArrayLike, ingested: npt.NDArray[np.bool_]) -> FloatArray:
    """Per-member total since init of per-step amounts (canonical order).

    Lead 0 (no step) counts as 0; a missing step inside the ingested range counts as 0; leads
    past the member's ingested length stay NaN, and so does every lead of a member with no data.
    ``ingested`` is the ``(member, lead)`` mask of ``ingested_mask``.
    """
    values = np.asarray(step_values, dtype=np.float64)
    totals = _cumulative_sum_along_lead(np.nan_to_num(values, nan=0.0))
    mask = ingested.reshape(ingested.shape + (1,) * (values.ndim - 2))
    has_data = np.isfinite(values).any(axis=LEAD_AXIS, keepdims=True)
    return np.where(mask & has_data, totals, np.nan)


def _cumulative_sum_along_lead(values: FloatArray) -> FloatArray:
    """``np.cumsum(values, axis=LEAD_AXIS)``, the same bits (each lead adds to the previous
    total, in lead order), computed in place one lead at a time: each addition is one
    vectorised pass over members and cells, where numpy's accumulate walks the lead axis in a
    short strided inner loop per (member, cell)."""
    for lead in range(1, values.shape[LEAD_AXIS]):
        np.add(values[:, lead - 1], values[:, lead], out=values[:, lead])
    return values


def _members_last_sorted(values: npt.ArrayLike, axis: int) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.int64]]:
    """``values`` with ``axis`` moved last and sorted along it (NaN last; ±inf treated as
    missing), and the count of finite values per position. Floats keep their dtype: sorting
    float32 is exact and moves half the bytes; arithmetic on the picked values is float64."""
    array = np.moveaxis(np.asarray(values), axis, -1)
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    if np.isinf(array).any():
        array = np.where(np.isfinite(array), array, np.nan)
    ordered = np.sort(array, axis=-1)
    count = array.shape[-1] - np.isnan(ordered).sum(axis=-1)
    return ordered, count


def _uniform_count(count: npt.NDArray[np.int64]) -> int | None:
    """The member count shared by every position that has data, if there is one (the common
    case: no member missing; leads past a partial init have none), else None. With one count
    the order statistics sit at the same index everywhere: slices instead of gathers."""
    most = int(count.max()) if count.size else 0
    return most if bool(np.all((count == most) | (count == 0))) else None


def _order_statistic(ordered: npt.NDArray[np.floating], index: npt.NDArray[np.int64] | int) -> FloatArray:
    if isinstance(index, int):
        return ordered[..., index].astype(np.float64)
    return np.take_along_axis(ordered, index[..., None], axis=-1)[..., 0].astype(np.float64)


def _quantiles_of_sorted(
    ordered: npt.NDArray[np.floating], count: npt.NDArray[np.int64], levels: list[float]
) -> FloatArray:
    out = np.full((len(levels), *ordered.shape[:-1]), np.nan)
    if ordered.shape[-1] == 0:
        return out
    uniform = _uniform_count(count)
    last: npt.NDArray[np.int64] | int = max(uniform - 1, 0) if uniform is not None else np.maximum(count - 1, 0)
    for index, level in enumerate(levels):
        position = last * float(level)
        lower = np.floor(position).astype(np.int64)
        upper = np.minimum(lower + 1, last)
        low_at: npt.NDArray[np.int64] | int = int(lower) if uniform is not None else lower
        high_at: npt.NDArray[np.int64] | int = int(upper) if uniform is not None else upper
        low_values = _order_statistic(ordered, low_at)
        high_values = _order_statistic(ordered, high_at)
        out[index] = np.where(count > 0, low_values + (high_values - low_values) * (position - lower), np.nan)
    return out


def nan_quantiles(values: npt.ArrayLike, levels: list[float], axis: int = 0) -> FloatArray:
    """Quantiles over ``axis`` ignoring NaN, equal to ``np.nanquantile`` (linear method).

    Vectorised: one sort along the axis (NaN sorts last), then each level interpolates between
    the two order statistics around ``(n − 1)·q`` where n counts the finite values. Positions
    with no finite value give NaN. Output shape: ``(len(levels), *shape without axis)``.
    """
    ordered, count = _members_last_sorted(values, axis)
    return _quantiles_of_sorted(ordered, count, levels)


ENSEMBLE_STATS = ("min", "q10", "q25", "median", "q75", "q90", "max", "mean", "member_count")
_LEVELS = {"q10": 0.10, "q25": 0.25, "median": 0.50, "q75": 0.75, "q90": 0.90}


def ensemble_stats(
    values: npt.ArrayLike, names: tuple[str, ...] = ENSEMBLE_STATS, axis: int = 0
) -> dict[str, FloatArray]:
    """Statistics over ``axis`` (members) of the members that have data at each position.

    Quantiles use linear interpolation (numpy's default). Positions with no member get NaN and
    ``member_count`` 0. Quantiles of totals come from per-member totals: pass totals here.
    One sort serves min, max and the quantiles; fastest when the member axis is contiguous.
    """
    ordered, count = _members_last_sorted(values, axis)
    any_data = count > 0
    uniform = _uniform_count(count)
    out: dict[str, FloatArray] = {"member_count": count.astype(np.float64)}
    if "min" in names:
        out["min"] = np.where(any_data, _order_statistic(ordered, 0), np.nan)
    if "max" in names:
        top = max(uniform - 1, 0) if uniform is not None else np.maximum(count - 1, 0)
        out["max"] = np.where(any_data, _order_statistic(ordered, top), np.nan)
    if "mean" in names:
        if uniform is not None:  # NaN sorts last: the first ``uniform`` values are the data
            total = ordered[..., :uniform].sum(axis=-1, dtype=np.float64)
        else:
            total = np.nansum(ordered, axis=-1, dtype=np.float64)
        out["mean"] = np.where(any_data, total / np.maximum(count, 1), np.nan)
    levels = [name for name in names if name in _LEVELS]
    if levels:
        quantiles = _quantiles_of_sorted(ordered, count, [_LEVELS[name] for name in levels])
        for index, name in enumerate(levels):
            out[name] = quantiles[index]
    return {name: out[name] for name in names}
