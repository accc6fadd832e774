"""Forecast Overview view: widgets bound to an OverviewState and a Meteogram that only renders.

Frames are computed once per change (``refresh``) and pushed into the Meteogram's existing
glyphs (a data update, never a rebuilt figure), shared by the main and the exceedance plot.
"""

from __future__ import annotations

import io
from typing import Any, cast

import panel as pn
import param
from bokeh.models import CustomJS

from forecast_core import units
from forecast_panel import frames as fr
from forecast_panel.state import OverviewState, age_text
from forecast_panel.views import choices
from forecast_panel.views.meteogram import Meteogram

# A session's own busy cue. Panel's template busy indicator is one process-wide state: every
# session's change set it in every open session, sending each of them two messages (with 20
# sessions that doubled the server's CPU per change). Instead the browser marks itself busy the
# moment a control changes, and the redraw clears it (the main figure's ``tags`` carry the
# revision, the last property a refresh sets); a reply that never comes clears it after 15 s.
BUSY_ON = """document.body.classList.add('fp-busy'); clearTimeout(window.fpBusyTimer);
window.fpBusyTimer = setTimeout(() => document.body.classList.remove('fp-busy'), 15000);"""
BUSY_OFF = """document.body.classList.remove('fp-busy'); clearTimeout(window.fpBusyTimer);"""


class TextPane(pn.pane.HTML):
    """An HTML pane whose new content is sent as its text alone. Panel's HTML pane sends every
    property again with each new object, its stylesheets (~1 KB of CSS) included."""

    def _update(self, ref: str, model: Any) -> None:
        model.update(text=self._transform_object(self.object)["object"])


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


class OverviewView(param.Parameterized):
    """Renders an OverviewState; ``panel()`` returns the tab's layout."""

    revision = param.Integer(default=0, doc="bumped after each recomputation of the frames")

    def __init__(self, state: OverviewState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        self.current = state.frames()
        self.header = TextPane("", sizing_mode="stretch_width", css_classes=["fp-header"])
        self.notes = TextPane("", sizing_mode="stretch_width", css_classes=["fp-notes"])
        self.meteogram = Meteogram()
        self.main_pane = pn.pane.Bokeh(
            self.meteogram.main, sizing_mode="stretch_width", min_height=360, css_classes=["fp-main"]
        )
        self.exceedance_pane = pn.pane.Bokeh(
            self.meteogram.exceedance, sizing_mode="stretch_width", min_height=220, css_classes=["fp-exceedance"]
        )
        self.download = pn.widgets.FileDownload(
            callback=self._csv, filename="forecast.csv", label="Download CSV", width=160
        )
        # The exceedance plot is added to / removed from this holder (a pane that starts hidden
        # never gets a size in Bokeh's layout, so toggling ``visible`` would leave it blank).
        self.exceedance_holder = pn.Column(sizing_mode="stretch_width")
        self.units_widget = choices.RadioButtonGroup(label="Units", options={}, sizing_mode="stretch_width")
        self.threshold_widget = pn.widgets.FloatInput.from_param(
            state.param.threshold, label="Exceedance threshold", sizing_mode="stretch_width"
        )
        self._sync_units_widget()
        self.units_widget.param.watch(self._units_chosen, "value")
        state.param.watch(self._sync_units_widget, ["variable", "units"])
        state.param.watch(self._on_change, STATE_PARAMS)
        self._render_text()
        self._place_exceedance()
        self._push()
        self.meteogram.main.js_on_change("tags", CustomJS(code=BUSY_OFF))

    # --- updates ------------------------------------------------------------------------------

    def _on_change(self, *_: Any) -> None:
        if not self.state.adjusting:  # the change that caused the cascade redraws once after it
            self.refresh()

    def refresh(self) -> None:
        """Recompute frames and push them to the plots (one data update, no figure rebuild)."""
        self.current = self.state.frames()
        self._render_text()
        self._place_exceedance()
        self._push()
        self.revision += 1
        self.meteogram.main.tags = [self.revision]  # last: the browser's busy cue ends with it

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

    def _push(self) -> None:
        threshold = self.state.threshold
        self.meteogram.update(
            self.current,
            title=self.state.title(),
            unit=units.label(self.state.display_unit()),
            bands=self.state.view == "bands",
            threshold="–" if threshold is None else f"{threshold:g}",
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
                "sources": {"widget_type": choices.CheckBoxGroup, "name": "Sources", "sizing_mode": "stretch_width"},
                "variable": {"widget_type": choices.Select, "name": "Variable", "sizing_mode": "stretch_width"},
                "point_id": {"widget_type": choices.Select, "name": "Point", "sizing_mode": "stretch_width"},
                "init": {"widget_type": choices.Select, "name": "Init date", "sizing_mode": "stretch_width"},
                "view": {"widget_type": choices.RadioButtonGroup, "name": "View", "sizing_mode": "stretch_width"},
                "show_members": {
                    "widget_type": choices.Checkbox,
                    "name": "Member traces",
                    "sizing_mode": "stretch_width",
                },
                "compare_previous": {
                    "widget_type": choices.Checkbox,
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
        for widget in [*cast(pn.Column, widgets.layout).objects, self.units_widget, self.threshold_widget]:
            if isinstance(widget, pn.widgets.Widget) and "value" in widget.param:
                widget.jscallback(value=BUSY_ON)
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
