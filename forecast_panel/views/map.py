"""Point Management Map (GeoViews): existing points, click to add one, optional summary overlay.

Flow: a click on the map places a marker and previews the nearest grid cell of every source
(``nearest_cell`` on the manifest's grid, the 0.25° dynamical.org grid before a first run);
the form (name, tags, enabled) saves through the ``PointsService`` only; on success the list and
the overview's point options refresh and the new point shows as "forecast pending". Cancel
removes the marker and clears the form. Tiles are optional (``tile_url`` None or "none": no
tiles); clicks work on the plot area either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cartopy.crs as ccrs
import geoviews as gv
import holoviews as hv
import pandas as pd
import panel as pn
import param
from pydantic import ValidationError

from forecast_core import units
from forecast_core.grid import DYNAMICAL_QUARTER_DEGREE, OutsideGrid, nearest_cell
from forecast_core.points import Point, PointPayload
from forecast_core.points_client import PointsApiError, PointsService
from forecast_panel.data import DataStore
from forecast_panel.frames import escape
from forecast_panel.state import OverviewState

DEFAULT_TILES = "https://tile.openstreetmap.org/{Z}/{X}/{Y}.png"
POINT_COLORS = {"enabled": "#1f77b4", "disabled": "#999999", "pending": "#ff7f0e"}
NO_OVERLAY = "none"


def validation_message(error: ValidationError | PointsApiError) -> str:
    """One readable line per problem (field: message), from pydantic or the API's 422/409."""
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'point'}: {item['msg'].removeprefix('Value error, ')}"
            for item in error.errors()
        )
    if error.status == 409:
        conflict = error.conflict or {}
        name = conflict.get("point_name")
        return f"Duplicate: {error.message}" + (f" (existing point: {name})" if name else "")
    if error.fields:
        return "; ".join(f"{item.get('field', '')}: {item.get('message', '')}" for item in error.fields)
    if error.status == 0:
        return f"The write-back API cannot be reached: {error.message}"
    return error.message


class MapView(param.Parameterized):
    """The map tab; ``panel()`` builds it on first display (tabs render lazily)."""

    clicked = param.Tuple(default=None, allow_None=True, length=2, doc="(longitude, latitude) of the pending point")
    overlay_variable: Any = param.Selector(default=NO_OVERLAY, objects=[NO_OVERLAY])
    overlay_lead: Any = param.Selector(default=None, objects=[], allow_None=True)
    revision = param.Integer(default=0)

    def __init__(
        self,
        datastore: DataStore,
        state: OverviewState,
        service: PointsService | None,
        *,
        tile_url: str | None = None,
        on_saved: Callable[[], None] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.datastore = datastore
        self.state = state
        self.service = service
        self.tile_url = DEFAULT_TILES if tile_url is None else tile_url
        self.on_saved = on_saved
        self.name_input = pn.widgets.TextInput(label="Name", placeholder="e.g. My Cabin", max_length=200)
        self.tags_input = pn.widgets.TextInput(label="Tags (comma separated)", placeholder="cabin, ski")
        self.enabled_input = pn.widgets.Checkbox(label="Enabled", value=True)
        self.confirm = pn.widgets.Button(label="Confirm", color="primary", disabled=service is None)
        self.cancel = pn.widgets.Button(label="Cancel")
        self.confirm.on_click(self._on_confirm)
        self.cancel.on_click(lambda _: self.reset())
        self.preview = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["fp-preview"])
        self.message = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["fp-message"])
        self.point_list = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["fp-point-list"])
        self.form = pn.Column(
            self.preview,
            self.name_input,
            self.tags_input,
            self.enabled_input,
            pn.Row(self.confirm, self.cancel),
            visible=False,
            sizing_mode="stretch_width",
        )
        if service is None:
            self.message.object = "<i>Read-only: no write-back API is configured (--api URL).</i>"
        variables = state.variable_ids()
        self.param.overlay_variable.objects = [NO_OVERLAY, *variables]
        self._render_list()

    # --- data ---------------------------------------------------------------------------------

    def _points_frame(self) -> pd.DataFrame:
        manifest = self.datastore.manifest()
        ready = set(manifest.point_ids) if manifest else set()
        rows = []
        for point in self.state.points:
            status = "disabled" if not point.enabled else ("enabled" if point.point_id in ready else "pending")
            rows.append(
                {
                    "longitude": point.longitude,
                    "latitude": point.latitude,
                    "name": point.point_name,
                    "status": status,
                    "color": POINT_COLORS[status],
                }
            )
        return pd.DataFrame(rows, columns=["longitude", "latitude", "name", "status", "color"])

    def preview_cells(self, longitude: float, latitude: float) -> list[str]:
        """Plain-text nearest-cell lines per source for a clicked position."""
        manifest = self.datastore.manifest()
        grids = [(item.source_id, item.grid) for item in manifest.sources] if manifest else []
        lines = []
        for source_id, grid in grids or [("0.25° grid", None)]:
            try:
                cell = nearest_cell(grid or DYNAMICAL_QUARTER_DEGREE, latitude, longitude)
            except OutsideGrid:
                lines.append(f"{source_id}: outside the grid")
                continue
            lines.append(f"{source_id}: {cell.latitude:.2f}, {cell.longitude:.2f} ({cell.distance_km:.1f} km away)")
        return lines

    # --- actions ------------------------------------------------------------------------------

    def click(self, longitude: float, latitude: float) -> None:
        """A click at (longitude, latitude): marker, grid-cell preview, empty form."""
        if longitude is None or latitude is None:
            return
        self.clicked = (float(longitude), float(latitude))
        cells = "".join(f"<li>{escape(line)}</li>" for line in self.preview_cells(longitude, latitude))
        self.preview.object = (
            f"<div class='fp-preview-body'><b>New point at {latitude:.4f}, {longitude:.4f}</b><br>"
            "Nearest grid cell per source:"
            f"<ul>{cells}</ul></div>"
        )
        self.message.object = ""
        self.form.visible = True
        self.revision += 1

    def _on_confirm(self, _: object) -> None:
        self.save()

    def reset(self) -> None:
        """Cancel: remove the marker and clear the form (nothing is saved)."""
        self.clicked = None
        self.name_input.value = ""
        self.tags_input.value = ""
        self.enabled_input.value = True
        self.form.visible = False
        self.preview.object = ""
        self.revision += 1

    def save(self) -> Point | None:
        """Validate and save through the PointsService; messages say what went wrong."""
        if self.service is None or self.clicked is None:
            return None
        longitude, latitude = self.clicked
        tags = [tag.strip() for tag in str(self.tags_input.value or "").split(",") if tag.strip()]
        try:
            payload = PointPayload.model_validate(
                {
                    "point_name": self.name_input.value,
                    "latitude": latitude,
                    "longitude": longitude,
                    "created_by": "dashboard",
                    "tags": tags,
                    "enabled": bool(self.enabled_input.value),
                }
            )
            point = self.service.create_point(payload)
            points = self.service.list_points()
        except (ValidationError, PointsApiError) as error:
            self.message.object = (
                f"<div class='fp-error' style='color:#b00020'>{escape(validation_message(error))}</div>"
            )
            return None
        self.state.refresh_options(points)
        self.reset()
        self.message.object = (
            f"<div class='fp-saved' style='color:#1b5e20'>Saved “{escape(point.point_name)}”. It is selectable in the "
            "overview and shows as forecast pending until its first extraction.</div>"
        )
        self._render_list()
        if self.on_saved is not None:
            self.on_saved()
        return point

    # --- rendering ----------------------------------------------------------------------------

    def _render_list(self) -> None:
        frame = self._points_frame()
        rows = "".join(
            f"<tr><td class='fp-point-name'>{escape(row.name)}</td><td>{row.latitude:.4f}, {row.longitude:.4f}</td>"
            f"<td>{escape(row.status)}</td></tr>"
            for row in frame.itertuples(index=False)
        )
        self.point_list.object = (
            f"<table class='fp-points'><tr><th>Point</th><th>Lat, lon</th><th>Status</th></tr>{rows}</table>"
        )

    def _points_layer(self, revision: int) -> gv.Points:
        return gv.Points(
            self._points_frame(),
            kdims=["longitude", "latitude"],
            vdims=["name", "status", "color"],
            crs=ccrs.PlateCarree(),
        ).opts(color="color", size=11, line_color="white", tools=["hover"])

    def _marker_layer(self, revision: int) -> gv.Points:
        data = [self.clicked] if self.clicked else []
        return gv.Points(data, kdims=["longitude", "latitude"], crs=ccrs.PlateCarree()).opts(
            color="#d62728", marker="x", size=18, line_width=3
        )

    def _overlay_layer(self, overlay_variable: str, overlay_lead: float | None) -> gv.Points:
        frame = pd.DataFrame(columns=["longitude", "latitude", "median"], dtype="float64")
        source = self.state.sources[0] if self.state.sources else None
        if overlay_variable != NO_OVERLAY and source and overlay_lead is not None:
            frame = self.datastore.map_summary(source, overlay_variable, overlay_lead)
            variable = self.datastore.variables().get(overlay_variable)
            if not frame.empty:
                unit = self.state.display_unit_of(overlay_variable)
                frame = frame.assign(median=units.convert(frame["median"], variable.native_units, unit))
        return gv.Points(frame, kdims=["longitude", "latitude"], vdims=["median"], crs=ccrs.PlateCarree()).opts(
            color="median", cmap="viridis", marker="square", size=9, alpha=0.5, colorbar=False, tools=["hover"]
        )

    @param.depends("overlay_variable", watch=True)
    def _overlay_leads(self) -> None:
        source = self.state.sources[0] if self.state.sources else None
        leads = (
            self.datastore.map_leads(source, self.overlay_variable)
            if source and self.overlay_variable != NO_OVERLAY
            else []
        )
        self.param.overlay_lead.objects = leads
        self.overlay_lead = leads[0] if leads else None

    def panel(self) -> pn.viewable.Viewable:
        frame = self._points_frame()
        if frame.empty:
            west, east, south, north = -109.0, -104.0, 37.0, 41.0
        else:
            west, east = frame.longitude.min() - 1.0, frame.longitude.max() + 1.0
            south, north = frame.latitude.min() - 0.7, frame.latitude.max() + 0.7
        # Invisible corners: fix the initial extent and carry the tap stream (a static element,
        # so clicks arrive as lon/lat in its PlateCarree crs, with or without tiles).
        extent = gv.Points([(west, south), (east, north)], crs=ccrs.PlateCarree()).opts(alpha=0, size=1)
        tap = hv.streams.SingleTap(source=extent, x=None, y=None)
        tap.add_subscriber(lambda x, y: self.click(x, y))
        revision = hv.streams.Params(self, ["revision"])
        layers = (
            extent
            * hv.DynamicMap(self._points_layer, streams=[revision])
            * hv.DynamicMap(self._marker_layer, streams=[revision])
        )
        overlay_stream = hv.streams.Params(self, ["overlay_variable", "overlay_lead"])
        layers = hv.DynamicMap(self._overlay_layer, streams=[overlay_stream]) * layers
        if self.tile_url and self.tile_url.lower() != "none":
            layers = gv.WMTS(self.tile_url) * layers
        plot = layers.opts(
            responsive=True, min_height=420, active_tools=["tap", "wheel_zoom"], tools=["tap"], xaxis=None, yaxis=None
        )
        controls = pn.Row(
            pn.widgets.Select.from_param(self.param.overlay_variable, label="Overlay (map summary)"),
            pn.widgets.Select.from_param(self.param.overlay_lead, label="Lead (h)"),
            sizing_mode="stretch_width",
        )
        return pn.Column(
            pn.pane.HTML("<i>Click the map to add a point.</i>"),
            pn.pane.HoloViews(plot, sizing_mode="stretch_width", min_height=420, css_classes=["fp-map"]),
            self.form,
            self.message,
            controls,
            self.point_list,
            sizing_mode="stretch_width",
        )
