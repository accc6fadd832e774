"""Pure transforms from artifact frames to what the overview draws (no Panel, no I/O).

Every function takes and returns pandas frames in display units; nothing here reads the store.
Boxes are drawn from the precomputed quantiles only (ECMWF convention: whiskers min–max, narrow
box q10–q90, wide box q25–q75, median tick). Rows whose quantiles are missing are dropped, never
turned into zeros; ``missing_spans`` says which valid times are not ingested yet.
"""

from __future__ import annotations

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
    """Everything the overview plot shows (each frame in the column layout its glyph needs).

    ``table`` (the CSV download) is built from ``shown`` in ``unit`` on first use, not on every
    redraw."""

    whiskers: pd.DataFrame
    outer: pd.DataFrame
    inner: pd.DataFrame
    medians: pd.DataFrame
    members: pd.DataFrame
    previous: pd.DataFrame
    missing: pd.DataFrame
    exceedance: pd.DataFrame
    shown: Sequence[SourceFrame] = ()
    unit: str = ""
    notes: list[str] = field(default_factory=list)
    _table: pd.DataFrame | None = None

    @property
    def table(self) -> pd.DataFrame:
        if self._table is None:
            self._table = shown_table(self.shown, self.unit)
        return self._table


_EMPTY_TIME_COLUMNS = frozenset({"x0", "x1", "valid_time", "valid"})
_EMPTY_TEXT_COLUMNS = frozenset({"source", "color"})


def empty(columns: Sequence[str]) -> pd.DataFrame:
    """A new empty frame whose x columns are datetimes (so glyphs keep a datetime axis), text
    columns objects and the rest floats. New per call: a shared frame would collect pandas'
    reference tracking from every session that takes a view of it."""
    return pd.DataFrame({name: np.empty(0, _empty_dtype(name)) for name in columns})


def _empty_dtype(column: str) -> str | type:
    if column in _EMPTY_TIME_COLUMNS:
        return "datetime64[ns]"
    return object if column in _EMPTY_TEXT_COLUMNS else "float64"


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
    slot = (step * 0.8 / count).to_timedelta64()
    half_step = (step / 2).to_timedelta64()
    whiskers, outer, inner = _Columns(SEGMENT_COLUMNS), _Columns(BOX_COLUMNS), _Columns(BOX_COLUMNS)
    medians = _Columns(SEGMENT_COLUMNS)
    for index, item in enumerate(frames):
        summary = item.summary
        if summary.empty:
            continue
        # numpy columns and one row mask: cheaper than dropna, which takes every column
        stats = {name: summary[name].to_numpy(dtype="float64") for name in QUANTILE_COLUMNS}
        keep = np.isfinite(stats["q25"]) & np.isfinite(stats["median"]) & np.isfinite(stats["q75"])
        if not keep.any():
            continue
        stats = {name: values[keep] for name, values in stats.items()}
        stats["members"] = summary["member_count"].to_numpy(dtype="float64")[keep]
        times = naive_utc(summary["valid_time"]).to_numpy()[keep]
        common = {"source": item.display_name, "color": item.color}
        hover = {"valid": times, **common, **stats}
        if bands:
            x0, x1 = times - half_step, times + half_step
            outer.add(x0=x0, y0=stats["q10"], x1=x1, y1=stats["q90"], **hover)
            inner.add(x0=x0, y0=stats["q25"], x1=x1, y1=stats["q75"], **hover)
            medians.add(**_line_columns(times, stats["median"]), **common)
            continue
        centre = times + (slot * (index - (count - 1) / 2)).astype("timedelta64[ns]")
        wide, narrow = (slot * 0.45).astype("timedelta64[ns]"), (slot * 0.2).astype("timedelta64[ns]")
        whiskers.add(x0=centre, y0=stats["min"], x1=centre, y1=stats["max"], **common)
        outer.add(x0=centre - narrow, y0=stats["q10"], x1=centre + narrow, y1=stats["q90"], **hover)
        inner.add(x0=centre - wide, y0=stats["q25"], x1=centre + wide, y1=stats["q75"], **hover)
        medians.add(x0=centre - wide, y0=stats["median"], x1=centre + wide, y1=stats["median"], **common)
    return whiskers.frame(), outer.frame(), inner.frame(), medians.frame()


class _Columns:
    """Columns gathered source by source and joined into one frame at the end (one frame build
    instead of one per source plus a concat). ``add`` takes arrays of one length, or scalars
    (text) repeated to it; columns not in the layout are ignored."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self.parts: dict[str, list[np.ndarray]] = {name: [] for name in self.columns}

    def add(self, **values: object) -> None:
        length = next(len(value) for value in values.values() if isinstance(value, np.ndarray))
        for name in self.columns:
            value = values[name]
            self.parts[name].append(value if isinstance(value, np.ndarray) else np.full(length, value, dtype=object))

    def frame(self) -> pd.DataFrame:
        if not self.parts[self.columns[0]]:
            return empty(self.columns)
        return pd.DataFrame({name: np.concatenate(parts) for name, parts in self.parts.items()})


def _line_columns(times: np.ndarray, values: np.ndarray) -> dict[str, np.ndarray]:
    """Segments joining consecutive finite points (a gap stays a gap), as x0, y0, x1, y1."""
    keep = np.isfinite(values[:-1]) & np.isfinite(values[1:])
    return {"x0": times[:-1][keep], "y0": values[:-1][keep], "x1": times[1:][keep], "y1": values[1:][keep]}


def member_segments(frames: Sequence[SourceFrame]) -> pd.DataFrame:
    """Every member's trace as segments (members of one point, from points.parquet)."""
    segments = _Columns(SEGMENT_COLUMNS)
    for item in frames:
        if item.members is None or item.members.empty:
            continue
        rows = item.members.sort_values(["ensemble_member", "lead_hours"])
        times = naive_utc(rows["valid_time"]).to_numpy()
        values = rows["value"].to_numpy(dtype="float64")
        member = rows["ensemble_member"].to_numpy()
        keep = (member[1:] == member[:-1]) & np.isfinite(values[1:]) & np.isfinite(values[:-1])
        segments.add(
            x0=times[:-1][keep],
            y0=values[:-1][keep],
            x1=times[1:][keep],
            y1=values[1:][keep],
            source=item.display_name,
            color=item.color,
        )
    return segments.frame()


def previous_segments(frames: Sequence[SourceFrame]) -> pd.DataFrame:
    """The previous init's median per source (how the forecast changed since that run)."""
    segments = _Columns(SEGMENT_COLUMNS)
    for item in frames:
        if item.previous is None or item.previous.empty:
            continue
        rows = item.previous.sort_values("lead_hours")
        line = _line_columns(naive_utc(rows["valid_time"]).to_numpy(), rows["median"].to_numpy(dtype="float64"))
        segments.add(**line, source=f"{item.display_name} (previous init)", color=item.color)
    return segments.frame()


def missing_spans(frames: Sequence[SourceFrame], step: pd.Timedelta | None = None) -> pd.DataFrame:
    """Valid-time ranges past a partial init's ingested length (drawn as shaded spans)."""
    step = step_of(frames) if step is None else step
    spans = _Columns(SPAN_COLUMNS)
    for item in frames:
        if item.summary.empty:
            continue
        mask = ~ingested_mask(item.summary, item.ingested_lead_hours)
        if mask.any():
            times = naive_utc(item.summary.loc[mask, "valid_time"])
            spans.add(
                x0=np.array([times.min() - step / 2], dtype="datetime64[ns]"),
                x1=np.array([times.max() + step / 2], dtype="datetime64[ns]"),
            )
    return spans.frame()


def exceedance(frames: Sequence[SourceFrame], threshold: float, step: pd.Timedelta | None = None) -> pd.DataFrame:
    """P(value > threshold) per valid time and source, as dodged bars (0–100 %).

    ``threshold`` is in the members' units. The probability counts members with data at that
    lead; a lead where no member has data is left out (not ingested), not drawn as 0 %.
    """
    step = step_of(frames) if step is None else step
    count = max(len(frames), 1)
    slot = step * 0.8 / count
    bars = _Columns(EXCEEDANCE_COLUMNS)
    for index, item in enumerate(frames):
        if item.members is None or item.members.empty:
            continue
        members = item.members.dropna(subset=["value"])
        hits = (members["value"].to_numpy() > threshold).astype("float64")
        probability = pd.Series(hits, index=members["valid_time"]).groupby(level=0).mean() * 100.0
        times = naive_utc(pd.Series(probability.index))
        centre = times + (index - (count - 1) / 2) * slot
        values = probability.to_numpy()
        bars.add(
            x0=(centre - slot * 0.45).to_numpy(),
            y0=np.zeros(len(values)),
            x1=(centre + slot * 0.45).to_numpy(),
            y1=values,
            source=item.display_name,
            color=item.color,
            valid=times.to_numpy(),
            probability=values,
        )
    return bars.frame()


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
