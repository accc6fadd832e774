"""Point Management Map (GeoViews): find a place, preview its grid cells, save it as a point.

Flow: a place found by name, typed coordinates, the browser's location or a click on the map
centres the map there (a found region or country: its extent), places a marker and previews the
nearest grid cell of every source (``nearest_cell`` on the manifest's grid, the 0.25°
dynamical.org grid before a first run); the form (name, tags, enabled) saves through the
``PointsService`` only; on success the list and the overview's point options refresh and the new
point shows as "forecast pending" until a run publishes its forecast (``on_new_run``, called by
the app when the process's run watcher sees a new run). Cancel removes the marker and clears the
form. Tiles are optional (``tile_url`` None or "none": no tiles): without them the map shows
place names from the offline gazetteer, scaled to the zoom, and the map-summary overlay.
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
from panel.io.document import unlocked
from pydantic import ValidationError

from forecast_core.grid import DYNAMICAL_QUARTER_DEGREE, OutsideGrid, nearest_cell
from forecast_core.points import Point, PointPayload
from forecast_core.points_client import PointsApiError, PointsService
from forecast_panel.coordinates import format_position
from forecast_panel.data import DataStore
from forecast_panel.frames import escape
from forecast_panel.places import ATTRIBUTION, Place, gazetteer
from forecast_panel.state import OverviewState
from forecast_panel.views import map_layers
from forecast_panel.views.map_layers import LEGEND, MAP_CSS, POINT_COLORS, STATUS_TEXT, points_table
from forecast_panel.views.map_overlay import OverlayControls
from forecast_panel.views.place_finder import PlaceFinder
from forecast_panel.views.tile_probe import probe_tiles

DEFAULT_TILES = "https://tile.openstreetmap.org/{Z}/{X}/{Y}.png"
NO_OVERLAY = OverlayControls.NONE


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
    revision = param.Integer(default=0)
    tiles_failed = param.Boolean(default=False, doc="the browser could not load a map tile")

    def __init__(
        self,
        datastore: DataStore,
        state: OverviewState,
        service: PointsService | None,
        *,
        tile_url: str | None = None,
        on_saved: Callable[[], None] | None = None,
        on_show_point: Callable[[str], None] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        self.datastore = datastore
        self.state = state
        self.service = service
        self.tile_url = DEFAULT_TILES if tile_url is None else tile_url
        self.offline = not self.tile_url or self.tile_url.lower() == "none"
        self.on_saved = on_saved
        self.on_show_point = on_show_point
        self.saved_point_id: str | None = None
        self.pending_ids: set[str] = set()
        self.overlay = OverlayControls(datastore, state, default_on=self.offline)
        self.finder = PlaceFinder(self.go_to_place, self.go_to_position)
        self.plot_pane: pn.pane.HoloViews | None = None
        self._ranges: hv.streams.RangeXY | None = None
        self.name_input = pn.widgets.TextInput(label="Name", placeholder="e.g. My Cabin", max_length=200)
        self.tags_input = pn.widgets.TextInput(label="Tags (comma separated)", placeholder="cabin, ski")
        self.enabled_input = pn.widgets.Checkbox(label="Enabled", value=True)
        self.confirm = pn.widgets.Button(label="Save point", color="primary", disabled=service is None)
        self.cancel = pn.widgets.Button(label="Cancel", variant="outline")
        self.confirm.on_click(self._on_confirm)
        self.cancel.on_click(lambda _: self.reset())
        self.show_button = pn.widgets.Button(label="Show its forecast", color="primary", visible=False, width=180)
        self.show_button.on_click(lambda _: self._show_saved())
        self.preview = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[MAP_CSS], css_classes=["fp-preview"])
        self.message = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[MAP_CSS], css_classes=["fp-message"])
        self.run_note = pn.pane.HTML(
            "", sizing_mode="stretch_width", stylesheets=[MAP_CSS], css_classes=["fp-run-note"]
        )
        self.point_list = pn.pane.HTML(
            "", sizing_mode="stretch_width", stylesheets=[MAP_CSS], css_classes=["fp-point-list"]
        )
        self.form = pn.Column(
            self.preview,
            pn.Row(self.name_input, self.tags_input, sizing_mode="stretch_width"),
            self.enabled_input,
            pn.Row(self.confirm, self.cancel),
            visible=False,
            sizing_mode="stretch_width",
            css_classes=["fp-form"],
        )
        self.message.object = self._read_only_note()
        self._render_list()

    def _read_only_note(self) -> str:
        if self.service is not None:
            return ""
        return "<div class='fp-note-text'>Read-only: no write-back API is configured (--api URL).</div>"

    # --- data ---------------------------------------------------------------------------------

    def point_statuses(self) -> list[tuple[Point, str]]:
        """Every configured point with its status: "enabled" (forecast ready), "pending", "disabled"."""
        manifest = self.datastore.manifest()
        ready = set(manifest.point_ids) if manifest else set()
        return [
            (point, "disabled" if not point.enabled else ("enabled" if point.point_id in ready else "pending"))
            for point in self.state.points
        ]

    def _points_frame(self) -> pd.DataFrame:
        rows = [
            {
                "longitude": point.longitude,
                "latitude": point.latitude,
                "name": point.point_name,
                "status": STATUS_TEXT[status],
                "color": POINT_COLORS[status],
            }
            for point, status in self.point_statuses()
        ]
        return pd.DataFrame(rows, columns=["longitude", "latitude", "name", "status", "color"])

    def preview_cells(self, longitude: float, latitude: float) -> list[str]:
        """Plain-text nearest-cell lines per source for a position."""
        manifest = self.datastore.manifest()
        grids = [(item.source_id, item.grid) for item in manifest.sources] if manifest else []
        registry = self.datastore.registry()
        names = {entry.source_id: entry.display_name for entry in registry.sources} if registry else {}
        lines = []
        for source_id, grid in grids or [("0.25° grid", None)]:
            label = names.get(source_id, source_id)
            try:
                cell = nearest_cell(grid or DYNAMICAL_QUARTER_DEGREE, latitude, longitude)
            except OutsideGrid:
                lines.append(f"{label}: outside the grid")
                continue
            lines.append(f"{label}: {format_position(cell.latitude, cell.longitude)} ({cell.distance_km:.1f} km away)")
        return lines

    # --- actions ------------------------------------------------------------------------------

    def go_to_place(self, place: Place) -> None:
        """A found place: centre the map on it and open the add-point preview there."""
        self.set_view(map_layers.box_around(place))
        self.click(place.longitude, place.latitude, title=place.label, name=place.name if place.kind == "city" else "")

    def go_to_position(self, latitude: float, longitude: float, title: str) -> None:
        """Typed coordinates or the browser's location: centre there and open the preview."""
        self.set_view(map_layers.box_at(latitude, longitude))
        self.click(longitude, latitude, title=title)

    def set_view(self, box: tuple[float, float, float, float]) -> None:
        """Show (west, south, east, north) on the rendered map (nothing before it is rendered)."""
        west, south, east, north = box
        x0, y0 = hv.util.transform.lon_lat_to_easting_northing(west, south)
        x1, y1 = hv.util.transform.lon_lat_to_easting_northing(east, north)
        plots = [plot for plot, _pane in self.plot_pane._plots.values()] if self.plot_pane is not None else []
        with unlocked():  # Bokeh models changed directly: Panel sends the changes to the page
            for plot in plots:
                plot.state.x_range.update(start=float(x0), end=float(x1))
                plot.state.y_range.update(start=float(y0), end=float(y1))
        if plots and self._ranges is not None:  # the browser reports only the user's own zooms
            self._ranges.event(x_range=(west, east), y_range=(south, north))

    def click(self, longitude: float, latitude: float, *, title: str = "", name: str = "") -> None:
        """A position to add: marker, grid-cell preview, form (the name pre-filled for a city)."""
        if longitude is None or latitude is None:
            return
        self.clicked = (float(longitude), float(latitude))
        cells = "".join(f"<li>{escape(line)}</li>" for line in self.preview_cells(longitude, latitude))
        heading = (
            f"{escape(title)} · {format_position(latitude, longitude)}"
            if title
            else format_position(latitude, longitude)
        )
        self.preview.object = (
            f"<div class='fp-preview-body'><b>New point: {heading}</b><br>"
            f"Nearest grid cell per source:<ul>{cells}</ul></div>"
        )
        self.name_input.value = name
        self.message.object = self._read_only_note()
        self.show_button.visible = False
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
                    "point_name": self.name_input.value_input or self.name_input.value,
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
            self.message.object = f"<div class='fp-error' role='alert'>{escape(validation_message(error))}</div>"
            return None
        self.state.refresh_options(points)
        self.reset()
        self.saved_point_id = point.point_id
        self.message.object = (
            f"<div class='fp-saved' role='status'>Saved “{escape(point.point_name)}”: forecast pending. It is "
            "selectable in the overview now, and its forecast appears here and there by itself once the "
            "extraction has run (usually within minutes).</div>"
        )
        self.show_button.visible = self.on_show_point is not None
        self._render_list()
        if self.on_saved is not None:
            self.on_saved()
        return point

    def _show_saved(self) -> None:
        if self.on_show_point is not None and self.saved_point_id is not None:
            self.on_show_point(self.saved_point_id)

    def on_new_run(self, points: list[Point] | None = None) -> list[str]:
        """A new run was published (the state's options are refreshed already): redraw the points
        and the overlay, keep the marker, form and overlay choice. Returns the names of points
        whose forecast just became ready."""
        before = set(self.pending_ids)
        self._render_list()
        ready = [point.point_name for point in self.state.points if point.point_id in before - self.pending_ids]
        if self.saved_point_id is not None and self.saved_point_id not in self.pending_ids and ready:
            self.message.object = (
                f"<div class='fp-saved' role='status'>The forecast of “{escape(', '.join(ready))}” is ready.</div>"
            )
        self.overlay.on_new_run()
        self.revision += 1
        return ready

    # --- rendering ----------------------------------------------------------------------------

    def _render_list(self) -> None:
        statuses = self.point_statuses()
        self.pending_ids = {point.point_id for point, status in statuses if status == "pending"}
        self.point_list.object = points_table(statuses)

    def _points_layer(self, revision: int) -> gv.Points:
        return gv.Points(
            self._points_frame(),
            kdims=["longitude", "latitude"],
            vdims=["name", "status", "color"],
            crs=ccrs.PlateCarree(),
        ).opts(color="color", size=12, line_color="white", tools=["hover"], hover_tooltips=["name", "status"])

    def _marker_layer(self, revision: int) -> gv.Points:
        data = [self.clicked] if self.clicked else []
        return gv.Points(data, kdims=["longitude", "latitude"], crs=ccrs.PlateCarree()).opts(
            color="#d62728", marker="x", size=20, line_width=3
        )

    def _labels_layer(
        self, x_range: Any, y_range: Any, width: int | None, height: int | None, scale: float, tiles_failed: bool
    ) -> hv.Overlay:
        if not (self.offline or tiles_failed):  # the tiles carry their own names
            x_range = y_range = (0.0, 0.0)
        elif x_range is None or y_range is None:
            x_range, y_range = self._initial_box[0::2], self._initial_box[1::2]
        box = (x_range[0], y_range[0], x_range[1], y_range[1])
        dots, names = map_layers.place_labels(gazetteer(), box, map_layers.label_grid(width, height))
        return dots * names

    def _probe_tiles(self, plot: Any, _element: Any) -> None:
        document = pn.state.curdoc
        if document is not None and document.session_context is not None:
            document.add_next_tick_callback(lambda: probe_tiles(plot.state, self.tile_url, self._on_tiles_failed))

    def _on_tiles_failed(self) -> None:
        """The browser cannot load tiles: place names and the map summary instead."""
        self.tiles_failed = True
        self.overlay.turn_on()
        self.run_note.object = (
            "<div class='fp-run-note-text' role='status'>Map tiles cannot be loaded here: the map shows place "
            "names and the map summary instead.</div>"
        )

    def _initial_view(self) -> tuple[float, float, float, float]:
        frame = self._points_frame()
        if frame.empty:
            return -109.0, 37.0, -104.0, 41.0
        return (
            frame.longitude.min() - 1.0,
            frame.latitude.min() - 0.7,
            frame.longitude.max() + 1.0,
            frame.latitude.max() + 0.7,
        )

    def panel(self) -> pn.viewable.Viewable:
        self.overlay.ensure_options()
        self._initial_box = west, south, east, north = self._initial_view()
        # Invisible corners: fix the initial extent and carry the tap and range streams (a static
        # element, so clicks and ranges arrive in its PlateCarree crs, with or without tiles).
        extent = gv.Points([(west, south), (east, north)], crs=ccrs.PlateCarree()).opts(alpha=0, size=1)
        tap = hv.streams.SingleTap(source=extent, x=None, y=None)
        tap.add_subscriber(lambda x, y: self.click(x, y))
        revision = hv.streams.Params(self, ["revision"])
        layers = hv.DynamicMap(self.overlay.layer, streams=[self.overlay.stream()]) * extent
        if not self.offline:
            layers = gv.WMTS(self.tile_url) * layers
        self._ranges = hv.streams.RangeXY(source=extent)
        size = hv.streams.PlotSize(source=extent, width=None, height=None, scale=1.0)
        failed = hv.streams.Params(self, ["tiles_failed"])
        layers = layers * hv.DynamicMap(self._labels_layer, streams=[self._ranges, size, failed])
        layers = (
            layers
            * hv.DynamicMap(self._points_layer, streams=[revision])
            * hv.DynamicMap(self._marker_layer, streams=[revision])
        )
        plot = layers.opts(
            responsive=True,
            min_height=440,
            active_tools=["tap", "wheel_zoom"],
            tools=["tap"],
            xaxis=None,
            yaxis=None,
            bgcolor="#f4f1ea" if self.offline else None,
            hooks=[] if self.offline else [self._probe_tiles],
        )
        self.plot_pane = pn.pane.HoloViews(plot, sizing_mode="stretch_width", min_height=440, css_classes=["fp-map"])
        attribution = ATTRIBUTION if self.offline else f"Map tiles: {self.tile_url.split('/')[2]}; {ATTRIBUTION}"
        return pn.Column(
            self.finder.panel(),
            pn.pane.HTML(
                "<div class='fp-hint'>Find a place, type coordinates, use your location, or click the map to add a "
                "point.</div>",
                sizing_mode="stretch_width",
                stylesheets=[MAP_CSS],
            ),
            self.run_note,
            self.form,
            self.message,
            self.show_button,
            self.plot_pane,
            pn.pane.HTML(
                f"{LEGEND}<div class='fp-attribution'>{escape(attribution)}</div>",
                sizing_mode="stretch_width",
                stylesheets=[MAP_CSS],
            ),
            self.overlay.panel(),
            self.point_list,
            sizing_mode="stretch_width",
            css_classes=["fp-map-tab"],
        )
