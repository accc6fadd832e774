"""The overview's state: a ``MeteogramSelection`` and the frames it implies (usable without a browser).

``OverviewState`` fills the selection's options from the run manifest, the configured points and
the canonical variables, and composes the meteogram's frames (``frames()``) from the DataStore's
artifacts through the pure transforms of ``frames`` and ``daily``. It never renders.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
import param

from forecast_core import units
from forecast_core.points import Point
from forecast_core.registry import CONSENSUS_ID
from forecast_core.status import RunManifest
from forecast_core.store import StoreError
from forecast_panel import frames as fr
from forecast_panel import pooled
from forecast_panel.columns import MEMBERS_READ, SUMMARY_READ, read_columns
from forecast_panel.daily import DailyValues, MemberMatrix, daily_values
from forecast_panel.data import DataStore
from forecast_panel.localtime import UTC_ZONE, zone_at
from forecast_panel.selection import LATEST, PANELS, THRESHOLDS, UNIT_SYSTEMS, MeteogramSelection, PanelSpec
from forecast_panel.summaries import panel_summary, source_notes
from forecast_panel.timing import split_time

PENDING = " (forecast pending)"
DEFAULT_WIDTH = 1000  # plot width assumed until the browser reports its own


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


class OverviewState(param.Parameterized):
    """Options and data of the overview for one ``MeteogramSelection``."""

    viewport_width = param.Integer(default=DEFAULT_WIDTH, bounds=(0, None), doc="the browser's width in px")

    def __init__(self, datastore: DataStore, selection: MeteogramSelection | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.datastore = datastore
        self.selection = selection or MeteogramSelection()
        self.points: list[Point] = []
        self._reads: dict[tuple[Any, ...], fr.Table] = {}
        self.unreadable: set[str] = set()  # sources whose reads failed in this refresh (store down)
        self.refresh_options()

    # --- options ------------------------------------------------------------------------------

    def manifest(self) -> RunManifest | None:
        return self.datastore.manifest()

    @property
    def sources(self) -> list[str]:
        return list(self.selection.sources)

    def refresh_options(self, points: list[Point] | None = None) -> None:
        """Recompute the selection's options from the manifest, the points and the variables."""
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
        names = {entry.source_id: entry.display_name for entry in registry.sources} if registry else {}
        selection = self.selection
        with param.parameterized.batch_call_watchers(selection):
            choices = {names.get(sid, sid): sid for sid in source_ids}
            if len(source_ids) > 1:
                choices[pooled.LABEL] = CONSENSUS_ID  # every enabled source pooled (forecast_core.consensus)
            selection.param.sources.objects = choices
            selection.sources = [sid for sid in selection.sources if sid in choices.values()] or source_ids
            options = self.point_options()
            selection.param.point.objects = options
            if selection.point not in options.values():
                ready = [pid for pid in options.values() if manifest and pid in manifest.point_ids]
                selection.point = next(iter(ready or list(options.values())), None)
            self._unit_options()
            self._threshold_options()
            self.refresh_inits()

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

    def _unit_options(self) -> None:
        variables = self.datastore.variables()
        for spec in PANELS.values():
            if spec.variable_id not in variables.output_variable_ids():
                continue
            choices = list(variables.get(spec.variable_id).display_units)
            parameter = self.selection.param[spec.unit_param]
            parameter.objects = {units.label(unit): unit for unit in choices}
            if getattr(self.selection, spec.unit_param) not in choices:
                wanted = UNIT_SYSTEMS[self.selection.units][spec.unit_param]
                setattr(self.selection, spec.unit_param, wanted if wanted in choices else choices[0])

    def _threshold_options(self) -> None:
        """Each strip's thresholds, labelled in the current display unit (values stay native)."""
        variables = self.datastore.variables()
        for variable_id, name in THRESHOLDS.items():
            if variable_id not in variables.output_variable_ids():
                continue
            variable = variables.get(variable_id)
            unit = self.display_unit_of(variable_id)
            native = list(variable.exceedance_thresholds)
            shown: Any = units.convert(native, variable.native_units, unit) if native else []
            labels = {
                f"{value:g} {units.label(unit)}": threshold for value, threshold in zip(shown, native, strict=True)
            }
            parameter = self.selection.param[name]
            parameter.objects = labels
            if getattr(self.selection, name) not in native:
                setattr(self.selection, name, native[min(1, len(native) - 1)] if native else None)

    def refresh_inits(self) -> None:
        manifest = self.manifest()
        dates: set[date] = set()
        if manifest:
            for source_id in self.selection.sources:
                for spec in PANELS.values():
                    dates.update(manifest.init_dates(source_id, spec.variable_id))
        inits = [LATEST, *(item.isoformat() for item in sorted(dates, reverse=True))]
        self.selection.param.init.objects = inits
        if self.selection.init not in inits:
            self.selection.init = LATEST

    def variable_ids(self) -> list[str]:
        """The published output variables (the map's overlay choices)."""
        manifest = self.manifest()
        published = {artifact.variable_id for artifact in manifest.artifacts} if manifest else set()
        return [vid for vid in self.datastore.variables().output_variable_ids() if vid in published]

    def display_unit_of(self, variable_id: str) -> str:
        """The page's unit for a variable (its panel's unit parameter, else its native unit)."""
        variable = self.datastore.variables().get(variable_id)
        for spec in PANELS.values():
            if variable_id in (spec.variable_id, spec.total_id, spec.overlay_id, spec.overlay_total_id):
                unit = str(getattr(self.selection, spec.unit_param))
                return unit if units.convertible(variable.native_units, unit) else variable.native_units
        return variable.native_units

    # --- point and time -----------------------------------------------------------------------

    def point(self) -> Point | None:
        return next((item for item in self.points if item.point_id == self.selection.point), None)

    def point_name(self) -> str:
        point = self.point()
        return point.point_name if point else str(self.selection.point or "")

    def is_pending(self) -> bool:
        manifest = self.manifest()
        return self.selection.point is not None and (manifest is None or self.selection.point not in manifest.point_ids)

    def point_zone(self) -> str:
        """The point's IANA time zone, from its coordinates (UTC for an unknown point)."""
        point = self.point()
        return zone_at(point.latitude, point.longitude) if point else UTC_ZONE

    def zone(self) -> str:
        """The zone the page's times are shown in: the point's, or UTC."""
        return self.point_zone() if self.selection.times == "local" else UTC_ZONE

    def init_date(self) -> date | None:
        return None if self.selection.init == LATEST else date.fromisoformat(self.selection.init)

    # --- data ---------------------------------------------------------------------------------

    def _read(self, kind: Any, source_id: str, variable_id: str, init: date | None) -> fr.Table:
        """One artifact's rows of the point as numpy columns, read once per ``frames()`` call."""
        key = (self.datastore.run_id, kind, source_id, variable_id, self.selection.point, init)
        table = self._reads.get(key)
        if table is None:
            try:
                arrow = self.datastore.point_table(kind, source_id, variable_id, str(self.selection.point), init)
            except StoreError:  # not read before and the store fails now: shown as "no data" + a note
                arrow = None
                self.unreadable.add(source_id)
            names = SUMMARY_READ if kind == "ensemble_summary" else MEMBERS_READ
            table = self._reads[key] = read_columns(arrow, names)
        return table

    def series(self, variable_id: str, *, members: bool = True) -> list[fr.SourceSeries]:
        """Per selected source: the variable's summary (+ members, previous init) in display units."""
        manifest = self.manifest()
        registry = self.datastore.registry()
        variable = self.datastore.variables().get(variable_id)
        unit, native = self.display_unit_of(variable_id), variable.native_units
        out = []
        for source_id in self.selection.sources:
            if source_id == CONSENSUS_ID:
                out.append(self._consensus(variable_id, unit))
                continue
            info = next((item for item in manifest.sources if item.source_id == source_id), None) if manifest else None
            entry = next((item for item in registry.sources if item.source_id == source_id), None) if registry else None
            init = self.init_date()
            summary = fr.to_display(
                self._read("ensemble_summary", source_id, variable_id, init), native, unit, fr.STAT_COLUMNS
            )
            read = self._read("points", source_id, variable_id, init) if members else {}
            previous = None
            if self.selection.has("previous") and fr.rows(summary) and manifest is not None:
                shown = pd.Timestamp(summary["init_time"][0]).date()
                older = [item for item in manifest.init_dates(source_id, variable_id) if item < shown]
                if older:
                    previous = fr.to_display(
                        self._read("ensemble_summary", source_id, variable_id, older[0]), native, unit, fr.STAT_COLUMNS
                    )
            newest = info is not None and (init is None or info.init_time.date() == init)
            out.append(
                fr.SourceSeries(
                    source_id=source_id,
                    label=entry.display_name if entry else source_id,
                    color=entry.color if entry else "#0072b2",
                    summary=summary,
                    members=fr.to_display(read, native, unit, ["value"]),
                    previous=previous,
                    ingested_lead_hours=info.ingested_lead_hours if newest and info and info.is_partial else None,
                )
            )
        return out

    def _consensus(self, variable_id: str, unit: str) -> fr.SourceSeries:
        """Every enabled source's members of the point pooled (``forecast_panel.pooled``)."""
        init, registry = self.init_date(), self.datastore.registry()
        weights = tuple(registry.consensus_weights().items()) if registry else ()
        key = (self.datastore.run_id, self.selection.point, variable_id, init, unit, weights)
        return pooled.consensus_for(lambda sid: self._read("points", sid, variable_id, init), self.datastore,
                                    variable_id, unit, key)  # fmt: skip

    def frames(self) -> fr.MeteogramFrames:
        """What the meteogram draws for the current selection."""
        self._reads = {}
        self.unreadable = set()
        selection = self.selection
        zone = self.zone()
        variables = self.datastore.variables().output_variable_ids()
        specs = [PANELS[key] for key in PANELS if key in selection.panels and PANELS[key].variable_id in variables]
        loaded = {spec.panel_id: self._panel_series(spec) for spec in specs}
        every = [item for main, overlay in loaded.values() for item in (*main, *overlay)]
        first = next(iter(loaded.values()))[0] if loaded else []
        split = self.split([item for main, _ in loaded.values() for item in main])
        panels, strip_rows, shown = [], [], []
        for spec in specs:
            main, overlay = loaded[spec.panel_id]
            panel, rows = self._panel(spec, main, overlay, split, zone)
            panels.append(panel)
            strip_rows += rows
            shown.append((main, self.display_unit_of(self._variable(spec)), self._variable(spec)))
        return fr.MeteogramFrames(
            panels=panels,
            strip=fr.strip_columns(strip_rows, zone),
            strip_axis=fr.strip_axis(strip_rows),
            legend=self.legend(),
            missing=fr.missing_spans(first, zone),
            zone=zone,
            notes=self.notes(every),
            shown=shown,
            strip_rows=strip_rows,
        )

    def split(self, series: Sequence[fr.SourceSeries] | None = None) -> np.datetime64 | None:
        """Where the boxes turn daily for this selection and width (``timing.split_time``)."""
        if series is None:
            self._reads = {}
            shown = [spec for key, spec in PANELS.items() if key in self.selection.panels]
            series = [item for spec in shown for item in self.series(self._variable(spec), members=False)]
        return split_time(series, self.zone(), self.selection.boxes, self.viewport_width)

    def _variable(self, spec: PanelSpec, overlay: bool = False) -> str:
        main, total = (spec.overlay_id, spec.overlay_total_id) if overlay else (spec.variable_id, spec.total_id)
        return str(total if self.selection.has("totals") and total else main)

    def _panel_series(self, spec: PanelSpec) -> tuple[list[fr.SourceSeries], list[fr.SourceSeries]]:
        overlay = self._variable(spec, overlay=True) if spec.overlay_id else None
        variables = self.datastore.variables().output_variable_ids()
        extra = self.series(overlay) if overlay and overlay in variables else []
        return self.series(self._variable(spec)), extra

    def _daily(
        self, series: Sequence[fr.SourceSeries], statistics: Sequence[Any], zone: str
    ) -> list[list[DailyValues]]:
        out = []
        for item in series:
            matrix = MemberMatrix.of(item.members or {})
            out.append(
                [pooled.weighted(daily_values(matrix, statistic, zone), item.weighting) for statistic in statistics]
            )
        return out

    def _panel(
        self,
        spec: PanelSpec,
        main: list[fr.SourceSeries],
        overlay: list[fr.SourceSeries],
        split: np.datetime64 | None,
        zone: str,
    ) -> tuple[fr.PanelFrames, list[fr.StripRow]]:
        selection = self.selection
        statistics = ("last",) if selection.has("totals") and spec.total_id else spec.statistics
        daily = self._daily(main, statistics, zone)
        bands = selection.view == "bands"
        until = None if bands else split
        since = np.datetime64("2200-01-01", "ns") if bands or split is None else split
        variable_id = self._variable(spec)
        unit = units.label(self.display_unit_of(variable_id))
        days = fr.daily_boxes(daily, zone, since)
        panel = fr.PanelFrames(
            panel_id=spec.panel_id,
            title=self.datastore.variables().get(variable_id).display_name_of(variable_id),
            unit=unit,
            steps=fr.step_boxes(main, zone, until, bands=bands),
            days=days,
            lines=fr.median_segments(main, zone) if bands else fr.empty_columns(fr.SEGMENT_COLUMNS),
            members=fr.member_segments(main, zone)
            if selection.has("members")
            else fr.empty_columns(fr.SEGMENT_COLUMNS),
            previous=fr.median_segments(main, zone, previous=True),
            summary=panel_summary(main, daily, statistics, unit),
        )
        rows = self._strip_rows(variable_id, main, daily)
        if overlay:
            overlay_id = self._variable(spec, overlay=True)
            overlay_daily = self._daily(overlay, statistics[:1], zone)
            panel.overlay = fr.markers(fr.step_boxes(overlay, zone, until), fr.daily_boxes(overlay_daily, zone, since))
            panel.overlay_label = self.datastore.variables().get(overlay_id).display_name_of(overlay_id)
            rows += self._strip_rows(overlay_id, overlay, overlay_daily)
        return panel, rows

    def _strip_rows(
        self, variable_id: str, series: Sequence[fr.SourceSeries], daily: Sequence[Sequence[DailyValues]]
    ) -> list[fr.StripRow]:
        base = variable_id.removesuffix("_total")
        name = THRESHOLDS.get(base)
        threshold = getattr(self.selection, name) if name else None
        if threshold is None:
            return []
        variable = self.datastore.variables().get(variable_id)
        unit = self.display_unit_of(variable_id)
        shown = float(units.convert([threshold], variable.native_units, unit)[0])
        what = {"precipitation": "Precipitation", "snowfall": "Snowfall", "wind_speed_10m": "Wind"}.get(base, base)
        heading = f"{what} > {shown:g} {units.label(unit)}"
        return [
            fr.StripRow(f"{heading}|{fr.short_name(item.label)}", days[0], shown, item.weighting, variable_id,
                        item.source_id, threshold, item.summary["init_time"][0] if fr.rows(item.summary) else None)
            for item, days in zip(series, daily, strict=True)
        ]  # fmt: skip

    def legend(self) -> list[tuple[str, str]]:
        """Colour index → (label, colour): each source, then each source's second statistic."""
        return pooled.legend(self.datastore.registry(), self.selection.sources)

    def notes(self, series: Sequence[fr.SourceSeries]) -> list[str]:
        notes = []
        if not self.selection.sources:
            notes.append("select at least one source")
        if not self.selection.panels:
            notes.append("select at least one panel")
        if self.is_pending():
            return [*notes, "forecast pending: this point has no forecast yet; it appears after the next extraction"]
        return [*notes, *source_notes(series, self.unreadable)]
