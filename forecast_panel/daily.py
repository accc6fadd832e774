"""Daily values from member series, per LOCAL day of the point (pure: frames in, arrays out).

As on ECMWF's 15-day meteogram, each member's series is reduced to one value per day, then a
day's box is the spread of those values over the members. Days are the point's local calendar
days (``zone``; 23 or 25 hours long on daylight-saving days):

- ``sum``: per-step amounts (precipitation, snowfall): the member's total of the steps whose END
  falls in the day (start, end]. A 6-hourly step may begin before the local midnight (zones are
  not aligned with the steps); a day counts if its steps cover its length within 1.5 hours.
- ``min`` / ``max``: instantaneous values (temperature, wind): the lowest / highest value at the
  day's valid times in [start, end); a day counts if no gap between its start, its valid times
  and its end exceeds 6 hours (UTC days of 6-hourly data: 00, 06, 12, 18 UTC).
- ``last``: running totals: the member's last total in the day (start, end], if the day began
  after the forecast did and the total is at most 6 hours before the day's end.

A member with a missing value in a counted day is left out of that day; a day no member completes
gets no box (never a partial sum drawn as if it were whole). Everything is vectorised over the
(lead × member) matrix: a whole horizon takes about a millisecond.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from forecast_core.parquet_schemas import QUANTILE_LEVELS
from forecast_panel.localtime import UTC_ZONE, day_bounds_utc, wall_times

Statistic = Literal["sum", "min", "max", "last"]
MAX_GAP = np.timedelta64(6, "h")
COVER_TOLERANCE_HOURS = 1.5
_EPSILON = np.timedelta64(1, "us")
HOUR = np.timedelta64(1, "h")


def daily_statistics(kind: Literal["instant", "per_step"], running_total: bool) -> tuple[Statistic, ...]:
    """The daily reductions shown for a variable of ``kind`` (or its running total)."""
    if running_total:
        return ("last",)
    return ("sum",) if kind == "per_step" else ("max", "min")


_MATRICES: OrderedDict[int, tuple[np.ndarray, MemberMatrix]] = OrderedDict()
_MATRIX_LOCK = threading.Lock()
# daily values of the shared matrices, by (matrix, statistic, zone): see ``daily_values``
_DAILY: OrderedDict[tuple[int, str, str], tuple[MemberMatrix, DailyValues]] = OrderedDict()


@dataclass(frozen=True, slots=True)
class MemberMatrix:
    """A member series as arrays: lead hours, naive UTC valid times, values ``(lead, member)``."""

    leads: np.ndarray
    times: np.ndarray
    values: np.ndarray

    @classmethod
    def of(cls, members: pd.DataFrame | dict[str, np.ndarray]) -> MemberMatrix:
        """From points.parquet rows, as a frame or numpy columns (any order; a missing (lead,
        member) pair is NaN). Read-only value columns (the cached ones every session shares) are
        arranged once per process."""
        column = members["value"] if len(members) else None
        values = column if isinstance(column, np.ndarray) and not column.flags.writeable else None
        if values is not None:
            with _MATRIX_LOCK:
                found = _MATRICES.get(id(values))
                if found is not None and found[0] is values:
                    return found[1]
        matrix = cls._arrange(members)
        if values is not None:
            matrix.times.flags.writeable = False  # so that its wall times are remembered too
            with _MATRIX_LOCK:
                _MATRICES[id(values)] = (values, matrix)
                while len(_MATRICES) > 256:
                    _MATRICES.popitem(last=False)
        return matrix

    @classmethod
    def _arrange(cls, members: pd.DataFrame | dict[str, np.ndarray]) -> MemberMatrix:
        if len(members) == 0 or len(members["lead_hours"]) == 0:
            empty = np.empty(0)
            return cls(empty, empty.astype("datetime64[ns]"), np.empty((0, 0)))
        leads, lead_index = np.unique(np.asarray(members["lead_hours"], dtype="float64"), return_inverse=True)
        _, member_index = np.unique(np.asarray(members["ensemble_member"]), return_inverse=True)
        values = np.full((leads.size, int(member_index.max()) + 1), np.nan)
        values[lead_index, member_index] = np.asarray(members["value"], dtype="float64")
        valid = members["valid_time"]
        if isinstance(valid, np.ndarray) and valid.dtype.kind == "M":
            valid = valid.astype("datetime64[ns]")
        else:
            valid = pd.to_datetime(pd.Series(valid), utc=True).dt.tz_convert(None).to_numpy("datetime64[ns]")
        times = np.empty(leads.size, dtype="datetime64[ns]")
        times[lead_index] = valid
        return cls(leads, times, values)


@dataclass(frozen=True, slots=True)
class DailyValues:
    """One value per (local day, member); NaN where the member does not complete the day.
    ``noon`` is each day's middle as a naive UTC instant (where its box is drawn); ``stats`` the
    box statistics of each day (``box_statistics``)."""

    days: np.ndarray
    noon: np.ndarray
    values: np.ndarray
    stats: dict[str, np.ndarray]  # box_statistics(values), computed once


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique sorted day keys, each group's first and last index (keys are non-decreasing)."""
    days, starts = np.unique(keys, return_index=True)
    ends = np.append(starts[1:], keys.size) - 1
    return days, starts, ends


def daily_values(matrix: MemberMatrix, statistic: Statistic, zone: str = UTC_ZONE) -> DailyValues:
    """Per local day of ``zone``, the members' daily ``statistic`` (see the module docstring).

    For a matrix every session shares (``MemberMatrix.of`` of cached read-only columns) the
    result is computed once per process and handed out read-only to every later caller."""
    if matrix.times.flags.writeable:
        return _daily_values(matrix, statistic, zone)
    key = (id(matrix), statistic, zone)
    with _MATRIX_LOCK:
        found = _DAILY.get(key)
        if found is not None and found[0] is matrix:
            return found[1]
    daily = _daily_values(matrix, statistic, zone)
    for array in (daily.days, daily.noon, daily.values, *daily.stats.values()):
        array.flags.writeable = False
    with _MATRIX_LOCK:
        _DAILY[key] = (matrix, daily)
        while len(_DAILY) > 1024:
            _DAILY.popitem(last=False)
    return daily


def _daily_values(matrix: MemberMatrix, statistic: Statistic, zone: str) -> DailyValues:
    times, values = matrix.times, matrix.values
    if statistic == "sum":
        steps = np.diff(matrix.leads, prepend=np.nan)
        keep = steps > 0
        times, values, steps = times[keep], values[keep], steps[keep]
    if times.size == 0 or values.size == 0:
        return DailyValues(
            np.empty(0, "datetime64[D]"),
            np.empty(0, "datetime64[ns]"),
            np.empty((0, 0)),
            box_statistics(np.empty((0, 0))),
        )
    wall = wall_times(times, zone)
    ends_day = statistic in ("sum", "last")  # a step or total ending at midnight belongs to the day before
    keys = ((wall - _EPSILON) if ends_day else wall).astype("datetime64[D]")
    days, first, last = _groups(keys)
    start, end = day_bounds_utc(days, zone)
    missing = np.add.reduceat(np.isnan(values), first, axis=0) > 0
    if statistic == "sum":
        reduced = np.add.reduceat(np.nan_to_num(values), first, axis=0)
        covered = np.add.reduceat(steps, first)
        length = (end - start) / HOUR
        complete = np.abs(covered - length) <= COVER_TOLERANCE_HOURS
    elif statistic == "last":
        reduced = values[last]
        complete = (start >= matrix.times.min()) & (end - times[last] <= MAX_GAP)
    else:
        ufunc = np.maximum if statistic == "max" else np.minimum
        reduced = ufunc.reduceat(values, first, axis=0)
        gaps = np.append(np.diff(times), np.timedelta64(0, "ns"))
        gaps[last] = np.timedelta64(0, "ns")  # no gap across two days
        inner = np.maximum.reduceat(gaps, first)
        complete = (times[first] - start <= MAX_GAP) & (end - times[last] <= MAX_GAP) & (inner <= MAX_GAP)
    reduced = np.where(missing | ~complete[:, None], np.nan, reduced)
    noon = start + (end - start) // 2
    return DailyValues(days, noon, reduced, box_statistics(reduced))


def box_statistics(values: np.ndarray) -> dict[str, np.ndarray]:
    """Per row of ``values`` (NaN = left out): min, q10 … q90 (linear, as ``np.quantile``), max,
    mean and member_count; NaN statistics where a row has no value."""
    ordered = np.sort(values, axis=1)  # NaN last
    count = np.sum(~np.isnan(values), axis=1)
    top = np.maximum(count - 1, 0)
    out: dict[str, np.ndarray] = {}
    rows = np.arange(values.shape[0])
    for name, level in {"min": 0.0, **QUANTILE_LEVELS, "max": 1.0}.items():
        position = level * top
        low = np.floor(position).astype(int)
        high = np.minimum(low + 1, top)
        fraction = position - low
        out[name] = ordered[rows, low] * (1 - fraction) + ordered[rows, high] * fraction if len(rows) else position
    total = np.nansum(values, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["mean"] = total / count
    empty = count == 0
    for name in out:
        out[name] = np.where(empty, np.nan, out[name])
    out["member_count"] = count.astype("float64")
    return out


def exceedance_percent(values: np.ndarray, threshold: float) -> np.ndarray:
    """Per row, the share of members (with a value) whose value exceeds ``threshold``, in %."""
    count = np.sum(~np.isnan(values), axis=1)
    hits = np.sum(values > threshold, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, 100.0 * hits / count, np.nan)


def daily_summary(members: pd.DataFrame, statistic: Statistic, zone: str = UTC_ZONE) -> pd.DataFrame:
    """Box statistics per local day (``valid_time``: the day's middle, UTC) over the members that
    complete it: min, q10 … q90, max, mean, member_count, like ensemble_summary."""
    columns = ["valid_time", "init_time", "min", *QUANTILE_LEVELS, "max", "mean", "member_count", "statistic"]
    if members.empty or members["value"].isna().all():
        return pd.DataFrame(columns=columns)
    daily = daily_values(MemberMatrix.of(members), statistic, zone)
    stats = daily.stats
    keep = stats["member_count"] > 0
    frame = pd.DataFrame({name: values[keep] for name, values in stats.items()})
    frame.insert(0, "valid_time", pd.to_datetime(daily.noon[keep]).tz_localize("UTC"))
    init_time: Any = members["init_time"].iloc[0] if "init_time" in members else pd.NaT
    frame.insert(1, "init_time", init_time)
    frame["member_count"] = frame["member_count"].astype("int64")
    frame["statistic"] = f"daily {statistic}"
    return frame[columns]


def lighter(color: str, share: float = 0.45) -> str:
    """``color`` (#rrggbb) mixed with white: the second statistic of a source."""
    if not (color.startswith("#") and len(color) == 7):
        return color
    rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (255 - c) * share):02x}" for c in rgb)
