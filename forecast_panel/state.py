"""Param classes holding the app's state: what the user selected, and the data it implies.

``OverviewState`` is usable without a browser (unit tests, notebooks): set its parameters and
call ``frames()``. Its options come from the run manifest (sources, variables, init dates) and
from the configured points; a configured point missing from ``manifest.point_ids`` is offered as
"forecast pending". Reads go through the DataStore (cached per run id), never a raw cube.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any, Literal, get_args

import pandas as pd
import param

from forecast_core import units
from forecast_core.grid import DYNAMICAL_QUARTER_DEGREE, GridSpec, OutsideGrid, nearest_cell
from forecast_core.points import Point
from forecast_core.registry import CanonicalVariable
from forecast_core.status import RunManifest
from forecast_core.store import StoreError
from forecast_core.units import UnitId
from forecast_panel import frames as fr
from forecast_panel.daily import Statistic, daily_frames, daily_statistics
from forecast_panel.data import DataStore

LATEST = "latest"
VIEW_MODES = ["boxes", "daily", "bands"]
PENDING = " (forecast pending)"


def age_text(moment: datetime | None, now: datetime | None = None) -> str:
    """'3 h 05 min ago' style age of ``moment`` (UTC)."""
    if moment is None:
        return "never"
    seconds = max(0, int(((now or datetime.now(UTC)) - moment).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days} d {hours} h ago"
    return f"{hours} h {rest // 60:02d} min ago"


def grid_cell(summary: pd.DataFrame | None, point: Point | None, grid: GridSpec | None) -> str:
    """'39.00°N 105.25°W, 3.1 km away' from the summary's grid columns, else the manifest grid."""
    if summary is not None and not summary.empty and "grid_latitude" in summary:
        row = summary.iloc[0]
        lat, lon, distance = float(row["grid_latitude"]), float(row["grid_longitude"]), row.get("grid_distance_km")
    elif point is not None:
        try:
            cell = nearest_cell(grid or DYNAMICAL_QUARTER_DEGREE, point.latitude, point.longitude)
        except OutsideGrid:
            return "outside the grid"
        lat, lon, distance = cell.latitude, cell.longitude, cell.distance_km
    else:
        return ""
    text = f"{abs(lat):.2f}°{'N' if lat >= 0 else 'S'} {abs(lon):.2f}°{'E' if lon >= 0 else 'W'}"
    if distance is not None and pd.notna(distance):
        text += f", {float(distance):.1f} km away"
    return text


class OverviewState(param.Parameterized):
    """Selections of the Forecast Overview tab and the frames they select."""

    sources = param.ListSelector(default=[], objects=[], doc="source ids shown side by side")
    variable: Any = param.Selector(default=None, objects=[], doc="canonical variable id (or running total)")
    point_id: Any = param.Selector(default=None, objects=[], doc="point id")
    init: Any = param.Selector(default=LATEST, objects=[LATEST], doc="init date (ISO) or 'latest'")
    units: Any = param.Selector(default="degC", objects=list(get_args(UnitId)), doc="display unit id")
    view: Any = param.Selector(
        default="boxes", objects=VIEW_MODES, doc="boxes per lead, daily boxes (from the members) or percentile bands"
    )
    show_members = param.Boolean(default=False, doc="member traces (points.parquet) over the boxes")
    compare_previous = param.Boolean(default=False, doc="previous init's median as a dashed line")
    threshold = param.Number(default=None, allow_None=True, doc="exceedance threshold in display units")

    def __init__(self, datastore: DataStore, **params: Any) -> None:
        self.datastore = datastore
        self.points: list[Point] = []
        self._threshold_for: str | None = None
        self._reads: dict[tuple[Any, ...], pd.DataFrame] = {}  # this refresh's artifact reads
        self.unreadable: set[str] = set()  # sources whose reads failed in this refresh (store down)
        self.adjusting = 0  # > 0 while a change is cascading into dependent parameters
        super().__init__(**params)
        self.refresh_options()

    @contextlib.contextmanager
    def _adjusting(self) -> Iterator[None]:
        """Mark dependent updates (units, init, threshold) made in reaction to another change;
        views skip those events and redraw once for the change that caused them."""
        self.adjusting += 1
        try:
            yield
        finally:
            self.adjusting -= 1

    # --- options ------------------------------------------------------------------------------

    def manifest(self) -> RunManifest | None:
        return self.datastore.manifest()

    def refresh_options(self, points: list[Point] | None = None) -> None:
        """Recompute every selector's options from the manifest and the configured points."""
        manifest = self.manifest()
        if points is not None:
            self.points = points
        elif not self.points:
            configured = self.datastore.configured_points()
            self.points = list(configured.points) if configured else []
        registry = self.datastore.registry()
        order = [entry.source_id for entry in registry.sources] if registry else []
        source_ids = sorted(
            (item.source_id for item in manifest.sources) if manifest else [],
            key=lambda sid: (order.index(sid) if sid in order else len(order), sid),
        )
        variables = self.datastore.variables()
        published = {artifact.variable_id for artifact in manifest.artifacts} if manifest else set()
        variable_ids = [vid for vid in variables.output_variable_ids() if vid in published] or (
            variables.output_variable_ids() if manifest is None else []
        )
        names = {entry.source_id: entry.display_name for entry in registry.sources} if registry else {}
        with param.parameterized.batch_call_watchers(self):
            self.param.sources.objects = {names.get(sid, sid): sid for sid in source_ids}
            selected = [sid for sid in self.sources if sid in source_ids]
            self.sources = selected or source_ids
            self.param.variable.objects = {self._variable_label(vid): vid for vid in variable_ids}
            if self.variable not in variable_ids:
                self.variable = variable_ids[0] if variable_ids else None
            options = self.point_options()
            self.param.point_id.objects = options
            if self.point_id not in options.values():
                ready = [pid for pid in options.values() if manifest and pid in manifest.point_ids]
                self.point_id = next(iter(ready or list(options.values())), None)
            self._refresh_variable_options()

    def _variable_label(self, variable_id: str) -> str:
        return self.datastore.variables().get(variable_id).display_name_of(variable_id)

    def point_options(self) -> dict[str, str]:
        """label → point id: forecast points first, then configured ones still pending."""
        manifest = self.manifest()
        ready = set(manifest.point_ids) if manifest else set()
        names = {point.point_id: point.point_name for point in self.points}
        options: dict[str, str] = {}
        for point_id in sorted(ready, key=lambda pid: str(names.get(pid, pid)).casefold()):
            options[names.get(point_id, point_id)] = point_id
        for point in sorted(self.points, key=lambda item: item.point_name.casefold()):
            if point.point_id not in ready and point.enabled:
                options[f"{point.point_name}{PENDING}"] = point.point_id
        return options

    def point_name(self, point_id: str | None) -> str:
        for point in self.points:
            if point.point_id == point_id:
                return point.point_name
        return point_id or ""

    def is_pending(self) -> bool:
        manifest = self.manifest()
        return self.point_id is not None and (manifest is None or self.point_id not in manifest.point_ids)

    @param.depends("variable", "sources", watch=True)
    def _refresh_variable_options(self) -> None:
        with self._adjusting():
            self._adjust_to_variable()

    def _adjust_to_variable(self) -> None:
        variable = self.canonical()
        manifest = self.manifest()
        if variable is None:
            return
        display = list(variable.display_units)
        if self.units not in display:
            self.units = display[0]
        dates: set[date] = set()
        if manifest and self.variable:
            for source_id in self.sources:
                dates.update(manifest.init_dates(source_id, self.variable))
        inits = [LATEST, *(item.isoformat() for item in sorted(dates, reverse=True))]
        self.param.init.objects = inits
        if self.init not in inits:
            self.init = LATEST
        if self._threshold_for != self.variable:
            self._threshold_for = self.variable
            self._default_threshold()

    @param.depends("units", watch=True)
    def _convert_threshold(self) -> None:
        with self._adjusting():
            self._default_threshold()

    def _default_threshold(self) -> None:
        variable = self.canonical()
        if variable is None or not variable.exceedance_thresholds:
            self.threshold = None
        elif self.units in variable.display_units:  # None while the unit options are being replaced
            self.threshold = round(
                float(units.convert([variable.exceedance_thresholds[0]], variable.native_units, self.units)[0]), 2
            )

    def canonical(self) -> CanonicalVariable | None:
        if self.variable is None:
            return None
        return self.datastore.variables().get(self.variable)

    def has_exceedance(self) -> bool:
        variable = self.canonical()
        return variable is not None and bool(variable.exceedance_thresholds)

    def init_date(self, source_id: str) -> date | None:
        """The init date shown for ``source_id`` (None = that source's newest)."""
        if self.init == LATEST:
            return None
        return date.fromisoformat(self.init)

    # --- data ---------------------------------------------------------------------------------

    def display_unit(self) -> str:
        """The selected unit, or the variable's first display unit while options are replaced."""
        variable = self.canonical()
        if variable is None:
            return str(self.units or "")
        return str(self.units) if self.units in variable.display_units else variable.display_units[0]

    def _read(self, kind: Literal["summary", "members"], source_id: str, init: date | None) -> pd.DataFrame:
        """The selected point's rows of one artifact, read once per refresh (``source_frames``
        starts a refresh): the DataStore hands out a new frame per call. Callers copy, never
        mutate, what this returns."""
        key = (self.datastore.run_id, kind, source_id, self.variable, self.point_id, init)
        frame = self._reads.get(key)
        if frame is None:
            reader = self.datastore.summary if kind == "summary" else self.datastore.members
            try:
                frame = reader(source_id, self.variable, self.point_id, init)
            except StoreError:  # not read before and the store fails now: shown as "no data" + note
                frame = pd.DataFrame()
                self.unreadable.add(source_id)
            self._reads[key] = frame
        return frame

    def source_frames(self) -> list[fr.SourceFrame]:
        """Per selected source: summary (+ members, previous init) converted to display units."""
        self._reads = {}
        self.unreadable = set()
        manifest = self.manifest()
        variable = self.canonical()
        if manifest is None or variable is None or self.point_id is None or self.variable is None:
            return []
        registry = self.datastore.registry()
        out = []
        for source_id in self.sources:
            info = next((item for item in manifest.sources if item.source_id == source_id), None)
            entry = next((item for item in registry.sources if item.source_id == source_id), None) if registry else None
            init = self.init_date(source_id)
            summary = self._read("summary", source_id, init)
            native = variable.native_units
            summary = fr.to_display(summary, native, self.display_unit(), fr.STAT_COLUMNS)
            members = previous = None
            if self.show_members or self.has_exceedance() or self.view == "daily":
                members = fr.to_display(
                    self._read("members", source_id, init),
                    native,
                    self.display_unit(),
                    ["value"],
                )
            if self.compare_previous and not summary.empty:
                shown = summary["init_time"].iloc[0].date()
                older = [item for item in manifest.init_dates(source_id, self.variable) if item < shown]
                if older:
                    previous = fr.to_display(
                        self._read("summary", source_id, older[0]),
                        native,
                        self.display_unit(),
                        fr.STAT_COLUMNS,
                    )
            newest = info is not None and (init is None or info.init_time.date() == init)
            out.append(
                fr.SourceFrame(
                    source_id=source_id,
                    display_name=entry.display_name if entry else source_id,
                    color=entry.color if entry else "#1f77b4",
                    summary=summary,
                    members=members,
                    previous=previous,
                    ingested_lead_hours=info.ingested_lead_hours if newest and info and info.is_partial else None,
                )
            )
        return out

    def source_frames_meta(self) -> list[dict[str, str]]:
        """Per selected source: colour and a plain-text line (grid cell, init, partial note)."""
        manifest = self.manifest()
        registry = self.datastore.registry()
        point = next((item for item in self.points if item.point_id == self.point_id), None)
        out = []
        for source_id in self.sources:
            entry = next((item for item in registry.sources if item.source_id == source_id), None) if registry else None
            info = next((item for item in manifest.sources if item.source_id == source_id), None) if manifest else None
            selected = self.variable and self.point_id
            summary = self._read("summary", source_id, self.init_date(source_id)) if selected else None
            text = entry.display_name if entry else source_id
            cell = grid_cell(summary, point, info.grid if info else None)
            if cell:
                text += f": grid cell {cell}"
            if summary is not None and not summary.empty:
                init_time = summary["init_time"].iloc[0]
                text += f", init {init_time:%Y-%m-%d %H:%M} UTC"
                if info is not None and info.is_partial and info.init_time == init_time and info.ingested_lead_hours:
                    text += f" (partial: ingested to {info.ingested_lead_hours:g} h)"
            out.append({"color": entry.color if entry else "#1f77b4", "text": text})
        return out

    def daily_statistics(self) -> tuple[Statistic, ...]:
        """How the daily view reduces each member's day for the selected variable."""
        variable = self.canonical()
        if variable is None:
            return ("max", "min")
        return daily_statistics(variable.kind, variable.is_running_total(self.variable))

    def frames(self) -> fr.OverviewFrames:
        """What the overview draws for the current selection."""
        sources = self.source_frames()
        step = fr.step_of(sources)
        shown = sources
        if self.view == "daily":
            shown = daily_frames(sources, self.daily_statistics())
        box_step = pd.Timedelta(days=1) if self.view == "daily" else step
        whiskers, outer, inner, medians = fr.box_frames(shown, bands=self.view == "bands", step=box_step)
        variable = self.canonical()
        exceed = fr.empty(fr.EXCEEDANCE_COLUMNS)
        if variable is not None and self.threshold is not None and self.has_exceedance():
            exceed = fr.exceedance(sources, float(self.threshold), step)
        notes = []
        if not self.sources:
            notes.append("select at least one source")
        if self.is_pending():
            notes.append("forecast pending: this point has no forecast yet; it appears after the next extraction")
        for item in sources:
            if self.is_pending():
                break
            if item.source_id in self.unreadable:
                notes.append(f"{item.display_name}: the forecast store cannot be read right now; try again shortly")
            elif item.summary.empty:
                notes.append(f"{item.display_name}: no data for this selection")
            elif item.summary["median"].isna().all():
                notes.append(f"{item.display_name}: no data at this point's grid cell")
            elif not fr.ingested_mask(item.summary, item.ingested_lead_hours).all():
                notes.append(f"{item.display_name}: the shaded leads are not ingested yet (partial init)")
        return fr.OverviewFrames(
            whiskers=whiskers,
            outer=outer,
            inner=inner,
            medians=medians,
            members=fr.member_segments(sources) if self.show_members else fr.empty(fr.SEGMENT_COLUMNS),
            previous=fr.previous_segments(sources) if self.compare_previous else fr.empty(fr.SEGMENT_COLUMNS),
            missing=fr.missing_spans(sources, step),
            exceedance=exceed,
            shown=shown,
            unit=self.display_unit(),
            notes=notes,
        )

    def title(self) -> str:
        """Plain-text plot title (drawn on canvas by Bokeh, so it is never markup)."""
        variable = self.canonical()
        name = variable.display_name_of(self.variable) if variable else ""
        return f"{self.point_name(self.point_id)} — {name} ({units.label(self.display_unit())})"
