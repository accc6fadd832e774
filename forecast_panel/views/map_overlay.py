"""The map-summary overlay: which variable and lead, and its layer (render only).

Variables are offered by display name, leads as local date and time (``map_layers.lead_labels``),
values are converted to the overview's unit when it shows the same variable (else the variable's
first display unit), and the layer carries a colour bar titled with the name, unit and source.
Leads are read lazily: nothing is read until the map tab is first shown.
"""

from __future__ import annotations

import contextlib
from typing import Any

import geoviews as gv
import holoviews as hv
import pandas as pd
import panel as pn
import param

from forecast_core.store import StoreError
from forecast_panel.data import DataStore
from forecast_panel.places import gazetteer
from forecast_panel.state import OverviewState
from forecast_panel.views import map_layers


class OverlayControls(param.Parameterized):
    """Variable and lead of the map summary shown under the points."""

    NONE = "none"

    overlay_variable: Any = param.Selector(default=NONE, objects=[NONE], label="Map summary")
    overlay_lead: Any = param.Selector(default=None, objects=[], allow_None=True, label="Valid time")

    def __init__(self, datastore: DataStore, state: OverviewState, *, default_on: bool, **params: Any) -> None:
        super().__init__(**params)
        self.datastore = datastore
        self.state = state
        self.default_on = default_on
        self._options_set = False

    def source_id(self) -> str | None:
        return self.state.sources[0] if self.state.sources else None

    def _variable_options(self) -> dict[str, str]:
        """display name → variable id, for the variables the run has a map summary of."""
        variables = self.datastore.variables()
        manifest = self.datastore.manifest()
        source = self.source_id()
        options = {"No overlay": self.NONE}
        for variable_id in self.state.variable_ids():
            if manifest is not None and source and manifest.artifact(source, variable_id, "map_summary") is not None:
                options[variables.get(variable_id).display_name_of(variable_id)] = variable_id
        return options

    def ensure_options(self) -> None:
        """Fill the choices (first display of the map tab): on by default without tiles."""
        if self._options_set:
            return
        self._options_set = True
        options = self._variable_options()
        self.param.overlay_variable.objects = options
        choices = [value for value in options.values() if value != self.NONE]
        if self.default_on and choices:
            self.overlay_variable = choices[0]
        else:
            self._refresh_leads()

    def turn_on(self) -> None:
        """Show the map summary (tiles failed) unless the user chose one already."""
        choices = [value for value in self.param.overlay_variable.objects if value != self.NONE]
        if self.overlay_variable == self.NONE and choices:
            self.overlay_variable = choices[0]

    @param.depends("overlay_variable", watch=True)
    def _refresh_leads(self) -> None:
        source = self.source_id()
        variable = self.overlay_variable
        leads: list[float] = []
        labels: dict[str, float] = {}
        with contextlib.suppress(StoreError):  # store down and never read: no overlay (the banner says why)
            leads = self.datastore.map_leads(source, variable) if source and variable != self.NONE else []
            if source and leads:
                first = self.datastore.map_summary(source, variable, leads[0])
                init_time = first["init_time"].iloc[0].to_pydatetime() if not first.empty else None
                labels = map_layers.lead_labels(init_time, leads, map_layers.zone_of(gazetteer(), first))
        previous = self.overlay_lead
        self.param.overlay_lead.objects = labels
        values = list(labels.values())
        self.overlay_lead = previous if previous in values else (values[0] if values else None)

    def on_new_run(self) -> None:
        """A new run: its leads and values (the chosen variable and lead stay when they exist)."""
        if self._options_set:
            self._refresh_leads()
            self.param.trigger("overlay_lead")

    def stream(self) -> hv.streams.Params:
        return hv.streams.Params(self, ["overlay_variable", "overlay_lead"])

    def unit_of(self, variable_id: str) -> str:
        """The page's unit for the variable (the meteogram's unit system)."""
        return self.state.display_unit_of(variable_id)

    def layer(self, overlay_variable: str, overlay_lead: float | None) -> gv.Points:
        source = self.source_id()
        frame = pd.DataFrame()
        variable = None
        unit = ""
        title = ""
        if overlay_variable != self.NONE and source and overlay_lead is not None:
            with contextlib.suppress(StoreError):  # store down and never read: an empty overlay
                frame = self.datastore.map_summary(source, overlay_variable, overlay_lead)
            variable = self.datastore.variables().get(overlay_variable)
            unit = self.unit_of(overlay_variable)
            registry = self.datastore.registry()
            names = {entry.source_id: entry.display_name for entry in registry.sources} if registry else {}
            title = map_layers.overlay_title(variable, overlay_variable, unit, names.get(source, source))
        return map_layers.overlay_points(frame, variable, unit, title)

    def panel(self) -> pn.viewable.Viewable:
        self.ensure_options()
        return pn.Row(
            pn.widgets.Select.from_param(self.param.overlay_variable, sizing_mode="stretch_width"),
            pn.widgets.Select.from_param(self.param.overlay_lead, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
            css_classes=["fp-overlay-controls"],
        )
