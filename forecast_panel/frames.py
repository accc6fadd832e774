"""Pure transforms from artifact frames to what the overview draws (no Panel, no I/O).

Every function takes and returns pandas frames in display units; nothing here reads the store.
Boxes are drawn from the precomputed quantiles only (ECMWF convention: whiskers min–max, narrow
box q10–q90, wide box q25–q75, median tick). Rows whose quantiles are missing are dropped, never
turned into zeros; ``missing_spans`` says which valid times are not ingested yet.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast_core import units
from forecast_core.parquet_schemas import QUANTILE_COLUMNS

STAT_COLUMNS = (*QUANTILE_COLUMNS, "mean")
BOX_COLUMNS = ["x0", "y0", "x1", "y1", "source", "color", "valid", *QUANTILE_COLUMNS, "members"]
EXCEEDANCE_COLUMNS = ["x0", "y0", "x1", "y1", "source", "color", "valid", "probability"]
SEGMENT_COLUMNS = ["x0", "y0", "x1", "y1", "source", "color"]
SPAN_COLUMNS = ["x0", "x1"]


@dataclass(frozen=True, slots=True)
class SourceFrame:
    """One source's summary rows for the shown point, variable and init, in display units."""

    source_id: str
    display_name: str
    color: str
    summary: pd.DataFrame
    members: pd.DataFrame | None = None
    previous: pd.DataFrame | None = None
    ingested_lead_hours: float | None = None


@dataclass(slots=True)
class OverviewFrames:
    """Everything the overview plot shows (each frame in the column layout its glyph needs)."""

    whiskers: pd.DataFrame
    outer: pd.DataFrame
    inner: pd.DataFrame
    medians: pd.DataFrame
    members: pd.DataFrame
    previous: pd.DataFrame
    missing: pd.DataFrame
    exceedance: pd.DataFrame
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def empty(columns: Sequence[str]) -> pd.DataFrame:
    """An empty frame whose x columns are UTC datetimes (so glyphs keep a datetime axis).

    The same (shared, never mutated) frame is returned for the same columns.
    """
    return _empty(tuple(columns))


@functools.lru_cache(maxsize=32)
def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(dtype="float64") for name in columns})
    for name in ("x0", "x1", "valid_time", "valid"):
        if name in frame:
            frame[name] = pd.Series(dtype="datetime64[ns]")
    for name in ("source", "color"):
        if name in frame:
            frame[name] = pd.Series(dtype="object")
    return frame


def to_display(frame: pd.DataFrame, native_unit: str, display_unit: str, columns: Sequence[str]) -> pd.DataFrame:
    """A copy with ``columns`` converted from the native to the display unit (NaN stays NaN)."""
    out = frame.copy()
    for name in columns:
        if name in out:
            out[name] = units.convert(out[name].to_numpy(dtype="float64"), native_unit, display_unit)
    return out


def naive_utc(values: pd.Series) -> pd.Series:
    """Timezone-naive UTC datetimes (Bokeh draws datetime axes in UTC from naive values)."""
    series = values if isinstance(values.dtype, pd.DatetimeTZDtype) else pd.to_datetime(values)
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_convert(None)  # to UTC, then drop the zone
    return series.astype("datetime64[ns]")


def ingested_mask(summary: pd.DataFrame, ingested_lead_hours: float | None) -> pd.Series:
    """True for rows whose lead was ingested: the ``is_ingested`` column, else the lead bound."""
    if "is_ingested" in summary:
        return summary["is_ingested"].fillna(False).astype(bool)
    if ingested_lead_hours is not None:
        return summary["lead_hours"] <= ingested_lead_hours
    return pd.Series(True, index=summary.index)


def step_of(frames: Sequence[SourceFrame]) -> pd.Timedelta:
    """The smallest usual spacing of valid times among the sources (boxes are sized by it)."""
    steps = []
    for item in frames:
        if "valid_time" not in item.summary:
            continue
        times: np.ndarray = np.unique(naive_utc(item.summary["valid_time"]).to_numpy())
        if len(times) > 1:
            steps.append(np.median(np.diff(times)))
    return pd.Timedelta(min(steps)) if steps else pd.Timedelta(hours=6)


def box_frames(
    frames: Sequence[SourceFrame], *, bands: bool, step: pd.Timedelta | None = None
) -> tuple[pd.DataFrame, ...]:
    """(whiskers, outer, inner, medians) for boxes dodged per source, or step bands if ``bands``.

    Box frames carry the statistics (``valid``, min … max, members) for the hover tooltip.
    """
    step = step_of(frames) if step is None else step
    count = max(len(frames), 1)
    slot = step * 0.8 / count
    whiskers, outer, inner, medians = [], [], [], []
    for index, item in enumerate(frames):
        rows = item.summary.dropna(subset=["q25", "median", "q75"])
        if rows.empty:
            continue
        times = naive_utc(rows["valid_time"])
        common = {"source": item.display_name, "color": item.color}
        stats = {name: rows[name].to_numpy(dtype="float64") for name in QUANTILE_COLUMNS}
        stats["members"] = rows["member_count"].to_numpy(dtype="float64")
        stats["valid"] = times.to_numpy()
        if bands:
            x0, x1 = times - step / 2, times + step / 2
            outer.append(pd.DataFrame({"x0": x0, "y0": rows.q10, "x1": x1, "y1": rows.q90, **common, **stats}))
            inner.append(pd.DataFrame({"x0": x0, "y0": rows.q25, "x1": x1, "y1": rows.q75, **common, **stats}))
            medians.append(_line(times, rows["median"].to_numpy(), common))
            continue
        centre = times + (index - (count - 1) / 2) * slot
        wide, narrow = slot * 0.45, slot * 0.2
        whiskers.append(pd.DataFrame({"x0": centre, "y0": rows["min"], "x1": centre, "y1": rows["max"], **common}))
        outer.append(
            pd.DataFrame(
                {"x0": centre - narrow, "y0": rows.q10, "x1": centre + narrow, "y1": rows.q90, **common, **stats}
            )
        )
        inner.append(
            pd.DataFrame({"x0": centre - wide, "y0": rows.q25, "x1": centre + wide, "y1": rows.q75, **common, **stats})
        )
        medians.append(
            pd.DataFrame(
                {"x0": centre - wide, "y0": rows["median"], "x1": centre + wide, "y1": rows["median"], **common}
            )
        )
    return (
        _concat(whiskers, SEGMENT_COLUMNS),
        _concat(outer, BOX_COLUMNS),
        _concat(inner, BOX_COLUMNS),
        _concat(medians, SEGMENT_COLUMNS),
    )


def _line(times: pd.Series, values: np.ndarray, common: dict[str, str]) -> pd.DataFrame:
    """Segments joining consecutive finite points (a gap stays a gap)."""
    frame = pd.DataFrame({"x0": times.to_numpy()[:-1], "y0": values[:-1], "x1": times.to_numpy()[1:], "y1": values[1:]})
    frame = frame.dropna()
    for key, value in common.items():
        frame[key] = value
    return frame


def _concat(parts: list[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    parts = [part for part in parts if not part.empty]
    if not parts:
        return empty(columns)
    return pd.concat(parts, ignore_index=True)[list(columns)]


def member_segments(frames: Sequence[SourceFrame]) -> pd.DataFrame:
    """Every member's trace as segments (members of one point, from points.parquet)."""
    parts = []
    for item in frames:
        if item.members is None or item.members.empty:
            continue
        rows = item.members.sort_values(["ensemble_member", "lead_hours"])
        times = naive_utc(rows["valid_time"]).to_numpy()
        values = rows["value"].to_numpy(dtype="float64")
        member = rows["ensemble_member"].to_numpy()
        keep = (member[1:] == member[:-1]) & np.isfinite(values[1:]) & np.isfinite(values[:-1])
        parts.append(
            pd.DataFrame(
                {
                    "x0": times[:-1][keep],
                    "y0": values[:-1][keep],
                    "x1": times[1:][keep],
                    "y1": values[1:][keep],
                    "source": item.display_name,
                    "color": item.color,
                }
            )
        )
    return _concat(parts, SEGMENT_COLUMNS)


def previous_segments(frames: Sequence[SourceFrame]) -> pd.DataFrame:
    """The previous init's median per source (how the forecast changed since that run)."""
    parts = []
    for item in frames:
        if item.previous is None or item.previous.empty:
            continue
        rows = item.previous.sort_values("lead_hours")
        common = {"source": f"{item.display_name} (previous init)", "color": item.color}
        parts.append(_line(naive_utc(rows["valid_time"]), rows["median"].to_numpy(dtype="float64"), common))
    return _concat(parts, SEGMENT_COLUMNS)


def missing_spans(frames: Sequence[SourceFrame], step: pd.Timedelta | None = None) -> pd.DataFrame:
    """Valid-time ranges past a partial init's ingested length (drawn as shaded spans)."""
    step = step_of(frames) if step is None else step
    spans = []
    for item in frames:
        if item.summary.empty:
            continue
        mask = ~ingested_mask(item.summary, item.ingested_lead_hours)
        if mask.any():
            times = naive_utc(item.summary.loc[mask, "valid_time"])
            spans.append(pd.DataFrame({"x0": [times.min() - step / 2], "x1": [times.max() + step / 2]}))
    return _concat(spans, SPAN_COLUMNS)


def exceedance(frames: Sequence[SourceFrame], threshold: float, step: pd.Timedelta | None = None) -> pd.DataFrame:
    """P(value > threshold) per valid time and source, as dodged bars (0–100 %).

    ``threshold`` is in the members' units. The probability counts members with data at that
    lead; a lead where no member has data is left out (not ingested), not drawn as 0 %.
    """
    step = step_of(frames) if step is None else step
    count = max(len(frames), 1)
    slot = step * 0.8 / count
    parts = []
    for index, item in enumerate(frames):
        if item.members is None or item.members.empty:
            continue
        members = item.members.dropna(subset=["value"])
        hits = (members["value"].to_numpy() > threshold).astype("float64")
        probability = pd.Series(hits, index=members["valid_time"]).groupby(level=0).mean() * 100.0
        times = naive_utc(pd.Series(probability.index))
        centre = times + (index - (count - 1) / 2) * slot
        values = probability.to_numpy()
        parts.append(
            pd.DataFrame(
                {
                    "x0": centre - slot * 0.45,
                    "y0": 0.0,
                    "x1": centre + slot * 0.45,
                    "y1": values,
                    "source": item.display_name,
                    "color": item.color,
                    "valid": times.to_numpy(),
                    "probability": values,
                }
            )
        )
    return _concat(parts, EXCEEDANCE_COLUMNS)


def shown_table(frames: Sequence[SourceFrame], unit: str) -> pd.DataFrame:
    """The rows shown, for the CSV download: one row per source and valid time, display units."""
    parts = []
    for item in frames:
        if item.summary.empty:
            continue
        columns = [
            name
            for name in ("init_time", "valid_time", "lead_hours", "statistic", *STAT_COLUMNS, "member_count")
            if name in item.summary
        ]
        part = item.summary[columns].copy()
        part.insert(0, "source_id", item.source_id)
        part["units"] = unit
        part["is_ingested"] = ingested_mask(item.summary, item.ingested_lead_hours).to_numpy()
        parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def escape(text: object) -> str:
    """User or store text made safe for an HTML pane (names are arbitrary Unicode)."""
    return html.escape(str(text), quote=True)
