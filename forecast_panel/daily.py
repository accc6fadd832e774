"""Daily boxes from member series, as on ECMWF's 15-day meteogram (pure: frames in, frames out).

A phone shows 35 daily boxes per source far better than 181 three- and six-hourly ones. Each
member's series is reduced to one value per UTC day, then the day's box is the spread of those
values over the members:

- ``sum``: per-step amounts (precipitation, snowfall): the member's total over the day, from the
  steps ending in (00 UTC, next 00 UTC]; a day counts only if its steps cover all 24 hours.
- ``min`` / ``max``: instantaneous values (temperature, wind): the member's lowest and highest
  value at the day's valid times in [00 UTC, next 00 UTC); a day counts only if it has a value at
  each of 00, 06, 12 and 18 UTC (the times every source's grid has).
- ``last``: running totals: the member's total at the day's end (next 00 UTC).

Members with a missing value in a counted day are left out of that day; a day no member
completes gets no box (never a partial sum drawn as if it were whole).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import numpy as np
import pandas as pd

from forecast_core.parquet_schemas import QUANTILE_LEVELS
from forecast_panel.frames import SourceFrame

Statistic = Literal["sum", "min", "max", "last"]
SYNOPTIC_HOURS = (0, 6, 12, 18)
DAY = pd.Timedelta(days=1)


def daily_statistics(kind: Literal["instant", "per_step"], running_total: bool) -> tuple[Statistic, ...]:
    """The daily reductions shown for a variable of ``kind`` (or its running total)."""
    if running_total:
        return ("last",)
    return ("sum",) if kind == "per_step" else ("max", "min")


def _member_matrix(members: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lead hours, valid times as naive UTC datetime64, values ``(lead, member)``)."""
    table = members.pivot(index="lead_hours", columns="ensemble_member", values="value").sort_index()
    valid = members.drop_duplicates("lead_hours").set_index("lead_hours")["valid_time"].reindex(table.index)
    times = pd.to_datetime(valid, utc=True).dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")
    return table.index.to_numpy(dtype="float64"), times, table.to_numpy(dtype="float64")


def _day_values(members: pd.DataFrame, statistic: Statistic) -> list[tuple[np.datetime64, np.ndarray]]:
    """Per day (its 00 UTC), the values of the members that complete it."""
    leads, times, values = _member_matrix(members)
    one_day = np.timedelta64(1, "D")
    ends_day = statistic in ("sum", "last")  # a step or total ending at 00 UTC belongs to the day before
    days = ((times - np.timedelta64(1, "us")) if ends_day else times).astype("datetime64[D]")
    steps = np.diff(leads, prepend=np.nan)  # each step's length in hours; NaN at the first lead
    out = []
    first = times.min()
    for day in np.unique(days):
        if day.astype("datetime64[ns]") < first:
            continue  # the day began before the forecast did (e.g. the total at lead 0)
        in_day = days == day
        if statistic == "sum":
            rows = in_day & (steps > 0)
            if not np.isclose(steps[rows].sum(), 24.0):
                continue
            block = values[rows]
            reduced = block.sum(axis=0)
        elif statistic == "last":
            rows = times == (day + one_day).astype("datetime64[ns]")
            if not rows.any():
                continue
            block = values[rows]
            reduced = block[-1]
        else:
            offsets = set(((times[in_day] - day.astype("datetime64[ns]")) / np.timedelta64(1, "h")).tolist())
            if not set(SYNOPTIC_HOURS) <= offsets:
                continue
            block = values[in_day]
            reduced = block.max(axis=0) if statistic == "max" else block.min(axis=0)
        complete = ~np.isnan(block).any(axis=0)
        if complete.any():
            out.append((day, reduced[complete]))
    return out


def daily_summary(members: pd.DataFrame, statistic: Statistic) -> pd.DataFrame:
    """Box statistics per UTC day (valid_time at the day's noon) over the members that complete it:
    min, q10, q25, median, q75, q90, max, mean, member_count, like ensemble_summary."""
    columns = ["valid_time", "init_time", "min", *QUANTILE_LEVELS, "max", "mean", "member_count", "statistic"]
    if members.empty or members["value"].isna().all():
        return pd.DataFrame(columns=columns)
    init_time = members["init_time"].iloc[0] if "init_time" in members else pd.NaT
    rows = []
    for day, data in _day_values(members, statistic):
        quantiles = np.quantile(data, list(QUANTILE_LEVELS.values()))
        rows.append(
            {
                "valid_time": pd.Timestamp(day, tz="UTC") + DAY / 2,
                "init_time": init_time,
                "min": data.min(),
                **dict(zip(QUANTILE_LEVELS, quantiles, strict=True)),
                "max": data.max(),
                "mean": data.mean(),
                "member_count": data.size,
                "statistic": f"daily {statistic}",
            }
        )
    return pd.DataFrame(rows, columns=columns)


def daily_frames(frames: Sequence[SourceFrame], statistics: Sequence[Statistic]) -> list[SourceFrame]:
    """Per source and statistic, a SourceFrame whose summary holds daily boxes (needs members)."""
    out = []
    for item in frames:
        for index, statistic in enumerate(statistics):
            members = item.members if item.members is not None else pd.DataFrame()
            label = f"{item.display_name} · daily {statistic}" if len(statistics) > 1 else item.display_name
            color = item.color if index == 0 else _lighter(item.color)
            summary = daily_summary(members, statistic) if not members.empty else pd.DataFrame()
            out.append(replace(item, display_name=label, color=color, summary=summary, ingested_lead_hours=None))
    return out


def _lighter(color: str, share: float = 0.45) -> str:
    """``color`` (#rrggbb) mixed with white: the second statistic of a source."""
    if not (color.startswith("#") and len(color) == 7):
        return color
    rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (255 - c) * share):02x}" for c in rgb)
