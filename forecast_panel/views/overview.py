"""Forecast Overview view: widgets bound to an OverviewState and HoloViews plots that only render.

The plots are DynamicMaps over a fixed overlay (spans, bands/boxes as Rectangles, whiskers,
medians, members and the previous init as Segments), so a selection change streams new data
into the existing Bokeh glyphs instead of rebuilding the figure. Frames are computed once per
change (``refresh``) and shared by the main and the exceedance plot.
"""

from __future__ import annotations

import io
from typing import Any

import holoviews as hv
import pandas as pd
import panel as pn
import param
from bokeh.models import HoverTool

from forecast_core import units
from forecast_panel import frames as fr
from forecast_panel.state import OverviewState, age_text

STATE_PARAMS = [
    "sources",
    "variable",
    "point_id",
    "init",
    "units",
    "view",
    "show_members",
    "compare_previous",
    "threshold",
]
_HOVER = HoverTool(tooltips=[("", "@label")])


def _rectangles(frame: pd.DataFrame, **style: Any) -> hv.Rectangles:
    return hv.Rectangles(frame, kdims=["x0", "y0", "x1", "y1"], vdims=["source", "color", "label"]).opts(
        color="color", line_color="color", framewise=True, **style
    )


def _segments(frame: pd.DataFrame, **style: Any) -> hv.Segments:
    style.setdefault("color", "color")
    style.setdefault("framewise", True)
    return hv.Segments(frame, kdims=["x0", "y0", "x1", "y1"], vdims=["source", "color"]).opts(**style)


class OverviewView(param.Parameterized):
    """Renders an OverviewState; ``panel()`` returns the tab's layout."""

    revision = param.Integer(default=0, doc="bumped after each recomputation of the frames")

    def __init__(self, state: OverviewState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        self.current = state.frames()
        self.header = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["fp-header"])
        self.notes = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["fp-notes"])
        stream = hv.streams.Params(self, ["revision"])
        self.main_plot = hv.DynamicMap(self._main, streams=[stream])
        self.exceedance_plot = hv.DynamicMap(self._exceedance, streams=[stream])
        self.main_pane = pn.pane.HoloViews(
            self.main_plot, sizing_mode="stretch_width", min_height=360, linked_axes=False, css_classes=["fp-main"]
        )
        self.exceedance_pane = pn.pane.HoloViews(
            self.exceedance_plot,
            sizing_mode="stretch_width",
            min_height=220,
            linked_axes=False,
            css_classes=["fp-exceedance"],
        )
        self.download = pn.widgets.FileDownload(
            callback=self._csv, filename="forecast.csv", label="Download CSV", width=160
        )
        # The exceedance plot is added to / removed from this holder (a pane that starts hidden
        # never gets a size in Bokeh's layout, so toggling ``visible`` would leave it blank).
        self.exceedance_holder = pn.Column(sizing_mode="stretch_width")
        self.units_widget = pn.widgets.RadioButtonGroup(name="Units", options={}, sizing_mode="stretch_width")
        self.threshold_widget = pn.widgets.FloatInput.from_param(
            state.param.threshold, name="Exceedance threshold", sizing_mode="stretch_width"
        )
        self._sync_units_widget()
        self.units_widget.param.watch(self._units_chosen, "value")
        state.param.watch(self._sync_units_widget, ["variable", "units"])
        state.param.watch(self._on_change, STATE_PARAMS)
        self._render_text()
        self._place_exceedance()

    # --- updates ------------------------------------------------------------------------------

    def _on_change(self, *_: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Recompute frames and push them to the plots (one data update, no figure rebuild)."""
        self.current = self.state.frames()
        self._render_text()
        self._place_exceedance()
        self.revision += 1

    def _place_exceedance(self) -> None:
        wanted = [self.exceedance_pane] if self.state.has_exceedance() else []
        if list(self.exceedance_holder.objects) != wanted:
            self.exceedance_holder.objects = wanted

    def _render_text(self) -> None:
        state = self.state
        manifest = state.manifest()
        parts = [f"<b>{fr.escape(state.point_name(state.point_id))}</b>"]
        point = next((item for item in state.points if item.point_id == state.point_id), None)
        for item in state.source_frames_meta():
            swatch = f'<span style="color:{fr.escape(item["color"])}">■</span>'
            parts.append(f"{swatch} {fr.escape(item['text'])}")
        if manifest is not None:
            parts.append(f"data from run {fr.escape(manifest.run_id)}, {fr.escape(age_text(manifest.created_utc))}")
        elif point is None:
            parts.append("no extraction has been published yet")
        self.header.object = "<div class='fp-title'>" + " · ".join(parts) + "</div>"
        self.notes.object = "".join(f"<div class='fp-note'>{fr.escape(note)}</div>" for note in self.current.notes)

    # --- plots (render only) ------------------------------------------------------------------

    def _main(self, revision: int) -> hv.Overlay:
        frames = self.current
        ylabel = units.label(self.state.display_unit())
        bands = self.state.view == "bands"
        spans = hv.VSpans(frames.missing, kdims=["x0", "x1"]).opts(color="#bbbbbb", alpha=0.35, framewise=True)
        outer = _rectangles(frames.outer, alpha=0.18 if bands else 0.35, line_alpha=0 if bands else 1, tools=[_HOVER])
        inner = _rectangles(frames.inner, alpha=0.35 if bands else 0.75, line_alpha=0 if bands else 1, tools=[_HOVER])
        overlay = (
            spans
            * _segments(frames.members, alpha=0.25, line_width=1)
            * outer
            * _segments(frames.whiskers, line_width=1.5)
            * inner
            * _segments(frames.medians, color="black" if not bands else "color", line_width=2)
            * _segments(frames.previous, line_dash="dashed", line_width=2, alpha=0.9)
        )
        return overlay.opts(
            title=self.state.title(),
            ylabel=ylabel,
            xlabel="valid time (UTC)",
            responsive=True,
            min_height=360,
            show_grid=True,
            framewise=True,
            active_tools=["pan"],
            tools=["save"],
            toolbar="above",
        )

    def _exceedance(self, revision: int) -> hv.Overlay:
        frames = self.current
        spans = hv.VSpans(frames.missing, kdims=["x0", "x1"]).opts(color="#bbbbbb", alpha=0.35, framewise=True)
        unit = units.label(self.state.display_unit())
        threshold = self.state.threshold
        bars = _rectangles(frames.exceedance, alpha=0.8, line_alpha=0, tools=[_HOVER])
        return (spans * bars).opts(
            title=f"Probability of exceeding {'–' if threshold is None else f'{threshold:g}'} {unit}",
            ylabel="%",
            xlabel="valid time (UTC)",
            ylim=(0, 100),
            responsive=True,
            min_height=220,
            show_grid=True,
            framewise=True,
            tools=["save"],
            toolbar="above",
        )

    def _csv(self) -> io.StringIO:
        buffer = io.StringIO()
        self.current.table.to_csv(buffer, index=False)
        buffer.seek(0)
        return buffer

    # --- layout -------------------------------------------------------------------------------

    def controls(self) -> pn.Column:
        """The selection widgets (placed in the template's sidebar by the app)."""
        state = self.state
        widgets = pn.Param(
            state,
            parameters=[name for name in STATE_PARAMS if name not in ("units", "threshold")],
            widgets={
                "sources": {"widget_type": pn.widgets.CheckBoxGroup, "name": "Sources", "sizing_mode": "stretch_width"},
                "variable": {"widget_type": pn.widgets.Select, "name": "Variable", "sizing_mode": "stretch_width"},
                "point_id": {"widget_type": pn.widgets.Select, "name": "Point", "sizing_mode": "stretch_width"},
                "init": {"widget_type": pn.widgets.Select, "name": "Init date", "sizing_mode": "stretch_width"},
                "view": {"widget_type": pn.widgets.RadioButtonGroup, "name": "View", "sizing_mode": "stretch_width"},
                "show_members": {
                    "widget_type": pn.widgets.Checkbox,
                    "name": "Member traces",
                    "sizing_mode": "stretch_width",
                },
                "compare_previous": {
                    "widget_type": pn.widgets.Checkbox,
                    "name": "Compare with previous init",
                    "sizing_mode": "stretch_width",
                },
                "threshold": {
                    "widget_type": pn.widgets.FloatInput,
                    "name": "Exceedance threshold",
                    "sizing_mode": "stretch_width",
                },
            },
            show_name=False,
            sizing_mode="stretch_width",
        )
        return pn.Column(widgets, self.units_widget, self.threshold_widget, self.download, sizing_mode="stretch_width")

    def _sync_units_widget(self, *_: Any) -> None:
        """Offer the variable's display units (the param keeps every unit id, so that replacing
        the options never pushes a transient None back into the state)."""
        variable = self.state.canonical()
        options = {units.label(unit): unit for unit in (variable.display_units if variable else [])}
        if self.units_widget.options != options:
            self.units_widget.options = options
        self.units_widget.value = self.state.display_unit()
        self.threshold_widget.visible = self.state.has_exceedance()

    def _units_chosen(self, event: Any) -> None:
        if event.new is not None and event.new != self.state.units:
            self.state.units = event.new

    def panel(self) -> pn.Column:
        return pn.Column(self.header, self.notes, self.main_pane, self.exceedance_holder, sizing_mode="stretch_width")
