"""Plots of the exploration API: the dashboard's own meteogram, and hvplot/GeoViews one-liners.

- ``meteogram`` is the app's Forecast Overview built by the app's own builder (``overview``):
  the same Panel panes and Bokeh figures, driven by an ``OverviewState`` set to a selection. It
  stays hand-built Bokeh because a redraw is a data update of fixed glyphs, measured several
  times cheaper than rebuilding the HoloViews equivalent (``benchmarks/bench_meteogram_build.py``,
  docs/performance.md).
- ``boxplot`` (members per valid time), ``exceedance`` and ``map`` are hvplot on the tidy frames
  of ``ForecastStore``: nothing drawn by hand. hvplot's boxes follow Tukey's rule (quartile box,
  whiskers to 1.5 IQR, outliers as dots), computed from the members themselves, whereas the
  meteogram draws the published statistics the ECMWF way (q25–q75, q10–q90, min–max).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import holoviews as hv
import hvplot.pandas  # noqa: F401 (registers the .hvplot accessor)
import pandas as pd
import panel as pn

from forecast_core import units as unit_labels
from forecast_core.points import Point
from forecast_panel import frames as fr
from forecast_panel.explore import InitRef, NotInStore
from forecast_panel.state import LATEST, OverviewState
from forecast_panel.views.overview import OverviewView

if TYPE_CHECKING:
    from collections.abc import Sequence

    from forecast_panel.explore import ForecastStore

LABEL_FORMAT = "%m-%d %H h"  # sorts chronologically within a year, short on a categorical axis


def overview(state: OverviewState, *, controls: bool = False) -> pn.viewable.Viewable:
    """The app's own Forecast Overview of ``state`` (header, notes, meteogram, exceedance).

    The one call to change when the dashboard's overview builder changes."""
    view = OverviewView(state)
    layout = view.panel()
    return pn.Row(view.controls(), layout, sizing_mode="stretch_width") if controls else layout


class Plots:
    """The plots of one ``ForecastStore`` (reach them as ``store.plot`` or its shortcuts)."""

    def __init__(self, store: ForecastStore) -> None:
        self.store = store

    # --- the dashboard's meteogram ---------------------------------------------------------------

    def overview_state(
        self,
        point: str | Point,
        variable: str | None = None,
        *,
        sources: str | Sequence[str] | None = None,
        init: InitRef = None,
        units: str | None = None,
        view: str = "boxes",
        members: bool = False,
        previous: bool = False,
        threshold: float | None = None,
    ) -> OverviewState:
        """An ``OverviewState`` (the app's selection) set to these choices; errors name the options."""
        state = OverviewState(self.store.datastore)
        chosen = self.store.point(point)
        if chosen.point_id not in state.param.point_id.objects.values():
            raise NotInStore(f"{chosen.point_name} is not offered by the dashboard (disabled, or no forecast)")
        selection: dict[str, Any] = {"point_id": chosen.point_id}
        if variable is not None:
            self.store.canonical(variable)
            selection["variable"] = variable
        if sources is not None:
            selection["sources"] = self.store.source_ids(sources)
        state.param.update(**selection)
        canonical = self.store.canonical(state.variable)
        if units is not None and units not in canonical.display_units:
            raise ValueError(f"{state.variable} is shown in {canonical.display_units}, not {units!r}")
        if view not in state.param.view.objects:
            raise ValueError(f"view is one of {state.param.view.objects}")
        chosen_init = self.store.init_date(state.sources[0], state.variable, init) if state.sources else None
        state.param.update(
            units=units or state.units,
            init=LATEST if chosen_init is None else chosen_init.isoformat(),
            view=view,
            show_members=members,
            compare_previous=previous,
        )
        if threshold is not None:
            state.threshold = float(threshold)
        return state

    def meteogram(
        self, point: str | Point, variable: str | None = None, *, controls: bool = False, **choices: Any
    ) -> pn.viewable.Viewable:
        """The Forecast Overview of ``point`` as the dashboard draws it. ``choices``: sources,
        init, units, view ("boxes", "daily", "bands"), members, previous, threshold; with
        ``controls`` the dashboard's widgets sit beside it and drive it (in a live kernel)."""
        return overview(self.overview_state(point, variable, **choices), controls=controls)

    # --- hvplot ------------------------------------------------------------------------------

    def _colors(self) -> dict[str, str]:
        sources = self.store.sources()
        return dict(zip(sources["source_id"], sources["color"], strict=True))

    def _names(self) -> dict[str, str]:
        sources = self.store.sources()
        return dict(zip(sources["source_id"], sources["display_name"], strict=True))

    def boxplot(
        self,
        point: str | Point,
        variable: str = "temperature_2m",
        *,
        sources: str | Sequence[str] | None = None,
        init: InitRef = None,
        units: str | None = None,
        tz: str | None = None,
        days: float | None = None,
        width: int = 900,
        height: int = 300,
    ) -> hv.Layout:
        """hvplot boxes of the members at each valid time (the first ``days`` only, if given),
        one plot per source; valid times in ``tz`` when given, else UTC."""
        frame = self.store.members(point, variable, sources=sources, init=init, units=units, tz=tz)
        if frame.empty:
            raise NotInStore(f"{self.store.point(point).point_name}: no forecast of {variable} yet")
        frame = frame.dropna(subset=["value"])
        if days is not None:
            frame = frame[frame["lead_hours"] <= days * 24]
        column = "valid_local" if tz else "valid_time"
        frame = frame.assign(valid=frame[column].dt.strftime(LABEL_FORMAT)).sort_values(["lead_hours"])
        colors, names = self._colors(), self._names()
        unit = unit_labels.label(str(frame["units"].iloc[0]))
        name = self.store.point(point).point_name
        plots = [
            rows.hvplot.box(
                y="value",
                by="valid",
                color=colors.get(str(source_id), "#1f77b4"),
                title=f"{name} · {names.get(str(source_id), source_id)} · {variable}",
                ylabel=unit,
                xlabel=f"valid time ({tz or 'UTC'})",
                rot=90,
                width=width,
                height=height,
            )
            for source_id, rows in frame.groupby("source_id", sort=False)
        ]
        return hv.Layout(plots).cols(1)

    def exceedance(
        self,
        point: str | Point,
        variable: str,
        threshold: float,
        *,
        sources: str | Sequence[str] | None = None,
        init: InitRef = None,
        units: str | None = None,
        tz: str | None = None,
        width: int = 900,
        height: int = 260,
    ) -> hv.Overlay:
        """P(value > threshold) per valid time as a step line per source (hvplot)."""
        frame = self.store.exceedance(point, variable, threshold, sources=sources, init=init, units=units, tz=tz)
        if frame.empty:
            raise NotInStore(f"{self.store.point(point).point_name}: no members of {variable} to count")
        column = "valid_local" if tz else "valid_time"
        frame = frame.assign(valid=frame[column].dt.tz_localize(None))
        colors, names = self._colors(), self._names()
        unit = unit_labels.label(str(frame["units"].iloc[0]))
        lines = [
            rows.hvplot.step(
                x="valid",
                y="probability",
                where="mid",
                color=colors.get(str(source_id), "#1f77b4"),
                label=names.get(str(source_id), str(source_id)),
            )
            for source_id, rows in frame.groupby("source_id", sort=False)
        ]
        title = f"{self.store.point(point).point_name} · P({variable} > {threshold:g} {unit})"
        return hv.Overlay(lines).opts(
            title=title, ylim=(0, 100), ylabel="%", xlabel=f"valid time ({tz or 'UTC'})", width=width, height=height
        )

    def map(
        self,
        variable: str = "temperature_2m",
        *,
        source: str | None = None,
        lead_hours: float | None = None,
        init: InitRef = None,
        units: str | None = None,
        statistic: str = "median",
        tiles: str | None = None,
        width: int = 700,
        height: int = 450,
    ) -> hv.Overlay:
        """The map summary (``statistic`` of each grid cell at one lead, nearest 24 h by default)
        as GeoViews points through hvplot, the configured points on top. ``tiles`` names an
        hvplot tile source (e.g. "CartoLight"; none offline)."""
        frame, lead = self.map_frame(variable, source=source, lead_hours=lead_hours, init=init, units=units)
        if statistic not in frame:
            raise ValueError(f"statistic is one of median, q10, q90, member_count, not {statistic!r}")
        unit = unit_labels.label(str(frame["units"].iloc[0]))
        valid = pd.Timestamp(frame["valid_time"].iloc[0])
        cells = frame.hvplot.points(
            x="longitude",
            y="latitude",
            c=statistic,
            geo=True,
            tiles=tiles or False,
            marker="square",
            size=60,
            cmap="coolwarm" if variable.startswith("temperature") else "viridis",
            clabel=f"{statistic} ({unit})",
            hover_cols=["median", "q10", "q90", "member_count"],
            title=f"{variable} {statistic}, +{lead:g} h ({valid:%Y-%m-%d %H} UTC)",
            width=width,
            height=height,
        )
        points = self.store.points()
        marks = points.hvplot.points(
            x="longitude", y="latitude", geo=True, color="black", marker="triangle", size=90, hover_cols=["point_name"]
        ) * points.hvplot.labels(
            x="longitude", y="latitude", text="point_name", geo=True, text_align="left", text_font_size="9pt"
        )
        return cells * marks

    def map_frame(
        self,
        variable: str,
        *,
        source: str | None = None,
        lead_hours: float | None = None,
        init: InitRef = None,
        units: str | None = None,
    ) -> tuple[pd.DataFrame, float]:
        """The map-summary rows of one lead in ``units``, and that lead (nearest 24 h if None)."""

        source_id = self.store.source_ids(source)[0] if source else self.store.source_ids()[0]
        canonical = self.store.canonical(variable)
        init_date = self.store.init_date(source_id, variable, init)
        leads = self.store.datastore.map_leads(source_id, variable, init_date)
        if not leads:
            raise NotInStore(f"{source_id}/{variable}: the run published no map summary")
        lead = min(leads, key=lambda hours: abs(hours - 24.0)) if lead_hours is None else float(lead_hours)
        if lead not in leads:
            raise NotInStore(f"{source_id}/{variable}: no map at +{lead:g} h; leads: {leads}")
        unit = self.store.unit_of(canonical, units)
        frame = self.store.datastore.map_summary(source_id, variable, lead, init_date)
        frame = fr.to_display(frame, canonical.native_units, unit, ["median", "q10", "q90"]).assign(units=unit)
        return frame, lead
