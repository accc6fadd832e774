"""Pure transforms from artifact frames to what the meteogram draws (no Panel, no I/O).

Every function takes frames in display units and returns plain column dicts (numpy arrays) in the
layout the view's glyphs read, with times already as the point's local wall time (or UTC):
views only render. Boxes are drawn from quantiles only (ECMWF convention: whiskers min–max,
narrow box q10–q90, wide box q25–q75, median tick): per step from the published summaries, per
local day from the members (``daily``). Rows whose quantiles are missing are dropped, never
turned into zeros.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecast_core import units
from forecast_core.consensus import Weighting, probability
from forecast_core.parquet_schemas import QUANTILE_COLUMNS
from forecast_panel.daily import DailyValues
from forecast_panel.localtime import wall_times

STAT_COLUMNS = (*QUANTILE_COLUMNS, "mean")
BOX_COLUMNS = ("xc", "t", "k", *QUANTILE_COLUMNS, "n")
SEGMENT_COLUMNS = ("x0", "y0", "x1", "y1", "k")
MARKER_COLUMNS = ("x", "y", "k", "q90")
SPAN_COLUMNS = ("x0", "x1")
STRIP_COLUMNS = ("x", "y", "p", "label")
MS = np.timedelta64(1, "ms")
Columns = dict[str, np.ndarray]
Table = dict[str, np.ndarray]  # an artifact's rows of one point, as numpy columns


def rows(table: Table) -> int:
    """Number of rows of a column table (0 when it has no column)."""
    return len(next(iter(table.values()))) if table else 0


@dataclass(frozen=True, slots=True)
class SourceSeries:
    """One source's rows of one variable at the shown point and init, in display units."""

    source_id: str
    label: str
    color: str
    summary: Table
    members: Table | None = None
    previous: Table | None = None
    ingested_lead_hours: float | None = None
    weighting: Weighting | None = None  # the consensus: how its member columns weigh
    note: str = ""  # said under the header (the consensus: which sources it holds)


@dataclass(frozen=True, slots=True)
class BoxSet:
    """Boxes as glyph columns (centre ``xc`` dodged per source, slot time ``t``, colour index
    ``k``, statistics, member count ``n``) and the half widths of the wide and narrow boxes."""

    columns: Columns
    wide_ms: float = 0.0
    narrow_ms: float = 0.0


def empty_columns(names: Sequence[str]) -> Columns:
    """Empty glyph columns typed like real ones (times datetime64, ``k`` int8, the rest float32)."""
    return {name: np.empty(0, dtype=_dtype(name)) for name in names}


def _dtype(name: str) -> str:
    if name in ("xc", "t", "x", "x0", "x1"):
        return "datetime64[ns]"
    if name == "k":
        return "int8"
    return "object" if name == "label" else "float32"


def concat(parts: Sequence[Columns], names: Sequence[str]) -> Columns:
    """Column dicts joined (one build per glyph, not one frame per source)."""
    if not parts:
        return empty_columns(names)
    return {name: np.concatenate([part[name] for part in parts]).astype(_dtype(name)) for name in names}


def to_display(table: Table, native_unit: str, display_unit: str, columns: Sequence[str]) -> Table:
    """A copy with ``columns`` converted from the native to the display unit (NaN stays NaN)."""
    if native_unit == display_unit:
        return table
    out = dict(table)
    for name in columns:
        if name in out:
            out[name] = units.convert(out[name], native_unit, display_unit)
    return out


def naive_utc(values: np.ndarray | pd.Series) -> np.ndarray:
    """Timezone-naive UTC ``datetime64[ns]`` values of a time column (numpy or pandas)."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        return values.astype("datetime64[ns]", copy=False)
    series = pd.to_datetime(pd.Series(values), utc=True).dt.tz_convert(None)
    return np.asarray(series.to_numpy(), dtype="datetime64[ns]")


def ingested_mask(summary: Table, ingested_lead_hours: float | None) -> np.ndarray:
    """True for rows whose lead was ingested: the ``is_ingested`` column, else the lead bound."""
    if "is_ingested" in summary:
        return np.asarray(summary["is_ingested"], dtype=bool)
    if ingested_lead_hours is not None:
        return np.asarray(summary["lead_hours"]) <= ingested_lead_hours
    return np.ones(rows(summary), dtype=bool)


def typical_step(series: Sequence[SourceSeries]) -> np.timedelta64:
    """The smallest usual spacing of valid times among the sources (boxes are sized by it)."""
    steps = [
        np.median(np.diff(np.unique(naive_utc(item.summary["valid_time"]))))
        for item in series
        if rows(item.summary) > 1
    ]
    return np.timedelta64(min(steps), "ns") if steps else np.timedelta64(6, "h").astype("timedelta64[ns]")


def _offsets(count: int, slot: np.timedelta64) -> list[np.timedelta64]:
    """Each source's shift from the slot's centre: ``count`` boxes side by side in 80 % of it."""
    width = slot * 0.8 / max(count, 1)
    return [(width * (index - (count - 1) / 2)).astype("timedelta64[ns]") for index in range(count)]


def step_boxes(
    series: Sequence[SourceSeries], zone: str, until: np.datetime64 | None, *, bands: bool = False
) -> BoxSet:
    """Per-step boxes from the summaries, for valid times (wall time) before ``until`` (None: all)."""
    step = typical_step(series)
    offsets = _offsets(1 if bands else len(series), step)
    parts = []
    for index, item in enumerate(series):
        summary = item.summary
        if not rows(summary):
            continue
        stats = {name: summary[name] for name in QUANTILE_COLUMNS}
        times = wall_times(naive_utc(summary["valid_time"]), zone)
        keep = np.isfinite(stats["q25"]) & np.isfinite(stats["median"]) & np.isfinite(stats["q75"])
        if until is not None:
            keep &= times < until
        if not keep.any():
            continue
        shift = offsets[0 if bands else index]
        part = {name: values[keep] for name, values in stats.items()}
        part.update(xc=times[keep] + shift, t=times[keep], k=np.full(int(keep.sum()), index, dtype="int8"))
        part["n"] = summary["member_count"][keep]
        parts.append(part)
    slot = step / (1 if bands else max(len(series), 1))
    wide = float(slot * (0.5 if bands else 0.8 * 0.45) / MS)
    return BoxSet(concat(parts, BOX_COLUMNS), wide, wide if bands else wide * 0.45)


def daily_boxes(daily: Sequence[Sequence[DailyValues]], zone: str, since: np.datetime64 | None) -> BoxSet:
    """Per local day boxes: ``daily[source][statistic]`` (the statistics of one source share its
    slot), for days whose middle (wall time) is after ``since`` (None: all)."""
    day = np.timedelta64(1, "D").astype("timedelta64[ns]")
    offsets = _offsets(len(daily), day)
    parts = []
    for index, statistics in enumerate(daily):
        for level, values in enumerate(statistics):
            stats = values.stats
            times = wall_times(values.noon, zone)
            keep = stats["member_count"] > 0
            if since is not None:
                keep &= times > since
            if not keep.any():
                continue
            part = {name: stats[name][keep] for name in QUANTILE_COLUMNS}
            code = index + level * len(daily)  # a source's second statistic takes its lighter colour
            part.update(xc=times[keep] + offsets[index], t=times[keep], k=np.full(int(keep.sum()), code, "int8"))
            part["n"] = stats["member_count"][keep]
            parts.append(part)
    wide = float(day * 0.8 / max(len(daily), 1) * 0.45 / MS)
    return BoxSet(concat(parts, BOX_COLUMNS), wide, wide * 0.45)


def _segments(times: np.ndarray, values: np.ndarray, same: np.ndarray, code: int) -> Columns:
    """Segments joining consecutive finite points of one trace (``same``: both ends belong)."""
    keep = same & np.isfinite(values[:-1]) & np.isfinite(values[1:])
    return {
        "x0": times[:-1][keep],
        "y0": values[:-1][keep],
        "x1": times[1:][keep],
        "y1": values[1:][keep],
        "k": np.full(int(keep.sum()), code, dtype="int8"),
    }


def member_segments(series: Sequence[SourceSeries], zone: str) -> Columns:
    """Every member's trace as segments (from points.parquet)."""
    parts = []
    for index, item in enumerate(series):
        if not item.members or item.weighting is not None:  # the consensus's members are the sources'
            continue
        order = np.lexsort((item.members["lead_hours"], item.members["ensemble_member"]))
        member = item.members["ensemble_member"][order]
        times = wall_times(naive_utc(item.members["valid_time"])[order], zone)
        parts.append(_segments(times, item.members["value"][order], member[1:] == member[:-1], index))
    return concat(parts, SEGMENT_COLUMNS)


def median_segments(series: Sequence[SourceSeries], zone: str, *, previous: bool = False) -> Columns:
    """The median per source as a line (bands view), or the previous init's (``previous``)."""
    parts = []
    for index, item in enumerate(series):
        table = item.previous if previous else item.summary
        if not table:
            continue
        order = np.argsort(table["lead_hours"], kind="stable")
        times = wall_times(naive_utc(table["valid_time"])[order], zone)
        values = table["median"][order]
        parts.append(_segments(times, values, np.ones(max(len(values) - 1, 0), dtype=bool), index))
    return concat(parts, SEGMENT_COLUMNS)


def markers(*boxes: BoxSet) -> Columns:
    """A second variable's boxes drawn as median markers (snowfall over precipitation), where
    some member has some of it (q90 > 0)."""
    parts = []
    for item in boxes:
        columns = item.columns
        keep = np.isfinite(columns["median"]) & (columns["q90"] > 0)
        parts.append(
            {
                "x": columns["xc"][keep],
                "y": columns["median"][keep],
                "k": columns["k"][keep],
                "q90": columns["q90"][keep],
            }
        )
    return concat(parts, MARKER_COLUMNS)


def missing_spans(series: Sequence[SourceSeries], zone: str) -> Columns:
    """Valid-time ranges past a partial init's ingested length (drawn as shaded spans)."""
    step = typical_step(series)
    parts = []
    for item in series:
        if not rows(item.summary):
            continue
        mask = ~ingested_mask(item.summary, item.ingested_lead_hours)
        if mask.any():
            times = wall_times(naive_utc(item.summary["valid_time"])[mask], zone)
            parts.append({"x0": np.array([times.min() - step / 2]), "x1": np.array([times.max() + step / 2])})
    return concat(parts, SPAN_COLUMNS)


@dataclass(frozen=True, slots=True)
class StripRow:
    """One row of the probability strip: P(daily value of a variable > threshold) for a source."""

    label: str
    daily: DailyValues
    threshold: float
    weighting: Weighting | None = None  # the consensus: members weigh by their source's share
    variable_id: str = ""  # what a rule made from the row watches (native threshold below)
    source_id: str = ""
    native_threshold: float | None = None
    init_time: np.datetime64 | None = None  # of the run the row's days are counted from


@dataclass(frozen=True, slots=True)
class StripAxis:
    """The strip's rows: a heading row before each variable's sources. ``ticks``: y → source name,
    ``headings``: (y, 'Precipitation > 5 mm'), ``labels``: y → the full row name (for the hover)."""

    ticks: dict[int, str]
    headings: list[tuple[float, str]]
    labels: dict[int, str]
    rows: int


def strip_axis(rows: Sequence[StripRow]) -> StripAxis:
    ticks: dict[int, str] = {}
    labels: dict[int, str] = {}
    headings: list[tuple[float, str]] = []
    y = 0
    for row in rows:
        heading, _, source = row.label.partition("|")
        if not headings or headings[-1][1] != heading:
            headings.append((float(y), heading))
            y += 1
        ticks[y], labels[y] = source, f"{heading} · {source}"
        y += 1
    return StripAxis(ticks, headings, labels, y)


def strip_columns(rows: Sequence[StripRow], zone: str) -> Columns:
    """Heat-strip cells: x (day's middle, wall time), row y (``strip_axis``), probability p (%)."""
    axis = strip_axis(rows)
    ys = sorted(axis.ticks)
    parts = []
    for y, row in zip(ys, rows, strict=True):
        values = row.daily.values
        count = np.sum(~np.isnan(values), axis=1)
        keep = count > 0
        if row.weighting is not None:
            p = 100.0 * probability(values, row.weighting.rows(values), ">", row.threshold)[keep]
        else:
            p = 100.0 * np.sum(values > row.threshold, axis=1)[keep] / count[keep]
        labels = np.array([f"{value:.0f}" for value in p], dtype=object)
        x = wall_times(row.daily.noon[keep], zone)
        parts.append({"x": x, "y": np.full(int(keep.sum()), y, "float32"), "p": p, "label": labels})
    return concat(parts, STRIP_COLUMNS)


@dataclass(slots=True)
class PanelFrames:
    """Everything one meteogram panel shows (glyph columns, all times in the page's time)."""

    panel_id: str
    title: str
    unit: str
    steps: BoxSet
    days: BoxSet
    lines: Columns = field(default_factory=lambda: empty_columns(SEGMENT_COLUMNS))
    members: Columns = field(default_factory=lambda: empty_columns(SEGMENT_COLUMNS))
    previous: Columns = field(default_factory=lambda: empty_columns(SEGMENT_COLUMNS))
    overlay: Columns = field(default_factory=lambda: empty_columns(MARKER_COLUMNS))
    overlay_label: str = ""
    summary: list[str] = field(default_factory=list)


@dataclass(slots=True)
class MeteogramFrames:
    """Everything the meteogram shows for one selection (pure data, times in ``zone``'s wall time)."""

    panels: list[PanelFrames]
    strip: Columns
    strip_axis: StripAxis
    legend: list[tuple[str, str]]  # colour index k → (label, colour)
    missing: Columns
    zone: str
    notes: list[str] = field(default_factory=list)
    shown: list[tuple[list[SourceSeries], str, str]] = field(default_factory=list)  # series, unit, variable
    strip_rows: list[StripRow] = field(default_factory=list)  # in the strip's row order (y = index + headings)

    @property
    def table(self) -> pd.DataFrame:
        """The CSV download: every shown variable's per-step rows (built when asked for)."""
        parts = [shown_table(series, unit, variable) for series, unit, variable in self.shown]
        parts = [item for item in parts if not item.empty]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def shown_table(series: Sequence[SourceSeries], unit: str, variable_id: str) -> pd.DataFrame:
    """One variable's summary rows for the CSV download: per source and valid time, display units."""
    parts = []
    for item in series:
        if not rows(item.summary):
            continue
        names = ("init_time", "valid_time", "lead_hours", *STAT_COLUMNS, "member_count")
        part = pd.DataFrame({name: item.summary[name] for name in names if name in item.summary})
        part.insert(0, "variable_id", variable_id)
        part.insert(0, "source_id", item.source_id)
        part["units"] = unit
        part["is_ingested"] = ingested_mask(item.summary, item.ingested_lead_hours)
        parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def escape(text: object) -> str:
    """User or store text made safe for an HTML pane (names are arbitrary Unicode)."""
    return html.escape(str(text), quote=True)


def short_name(label: str) -> str:
    """'NOAA GEFS (35-day) — sample' → 'GEFS', 'ECMWF IFS ENS' → 'ENS': a source name's last acronym."""
    words = [word for word in label.replace("(", " ").split() if word.isupper() and len(word) > 2]
    return words[-1] if words else label.split()[0]
