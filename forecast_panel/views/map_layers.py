"""The map's layers (GeoViews elements in lon/lat) and the words around them (render only).

- ``place_labels``: the reference layer of place names from the gazetteer, for the visible box,
  largest cities first (``Gazetteer.labels_in``), so the map can be read without tiles.
- ``overlay_points``: the map summary's ensemble median per grid cell, in display units, with a
  colour bar titled by the variable's display name and unit.
- ``lead_labels``: a map summary's leads as local date and time ("Thu 27 Nov 18:00 MST, +24 h"),
  in the time zone of the place nearest the summary's cells.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import cartopy.crs as ccrs
import geoviews as gv
import holoviews as hv
import pandas as pd

from forecast_core import units
from forecast_core.points import Point
from forecast_core.registry import CanonicalVariable
from forecast_panel.coordinates import format_position
from forecast_panel.frames import escape
from forecast_panel.places import Gazetteer, Place

CITY_SPAN = (1.6, 1.1)  # degrees of longitude and latitude shown around a found city or position
LABEL_COUNT = 40
LABEL_CELL = (90, 40)  # pixels per place name
LABEL_STYLE = {"text_font_size": "11px", "text_color": "#20303f", "text_align": "left", "xoffset": 5}
OVERLAY_CMAP = "viridis"
POINT_COLORS = {"enabled": "#1f77b4", "disabled": "#767676", "pending": "#c25400"}
STATUS_TEXT = {"enabled": "forecast ready", "pending": "forecast pending", "disabled": "disabled"}
LEGEND = (
    "<div class='fp-legend'>"
    + "".join(
        f"<span><span class='fp-swatch' style='color:{POINT_COLORS[key]}'>●</span> {STATUS_TEXT[key]}</span> "
        for key in ("enabled", "pending", "disabled")
    )
    + "<span><span class='fp-swatch' style='color:#d62728'>✕</span> new point</span></div>"
)
MAP_CSS = """
.fp-points { border-collapse: collapse; margin-top: 8px; }
.fp-points caption { text-align: left; font-weight: 600; padding-bottom: 4px; }
.fp-points th, .fp-points td { text-align: left; padding: 3px 16px 3px 0; }
.fp-points th { border-bottom: 1px solid #ccc; font-weight: 600; }
.fp-error { color: #b00020; }
.fp-saved { color: #1b5e20; }
.fp-note-text, .fp-attribution { color: #4a4a4a; }
.fp-run-note-text { background: #e8f1fb; border-left: 4px solid #1f77b4; padding: 6px 10px; }
.fp-legend > span { margin-right: 12px; white-space: nowrap; }
.fp-preview-body ul { margin: 4px 0; }
"""


def label_grid(width: int | None, height: int | None) -> tuple[int, int]:
    """Columns and rows of the label grid of a map ``width`` × ``height`` pixels: one name per
    cell of about 90 × 40 px, so a phone shows fewer names than a desktop."""
    if not width or not height:
        return 12, 9
    return max(3, min(16, width // LABEL_CELL[0])), max(3, min(14, height // LABEL_CELL[1]))


def place_labels(
    gazetteer: Gazetteer, box: tuple[float, float, float, float], grid: tuple[int, int] = (12, 9)
) -> tuple[gv.Points, gv.Labels]:
    """Dots and names of the largest cities inside ``box`` (west, south, east, north)."""
    west, south, east, north = box
    columns, rows = grid
    places = gazetteer.labels_in(south, north, west, east, count=LABEL_COUNT, columns=columns, rows=rows)
    frame = pd.DataFrame(
        {
            "longitude": [place.longitude for place in places],
            "latitude": [place.latitude for place in places],
            "place": [place.name for place in places],
        },
        columns=["longitude", "latitude", "place"],
    )
    dots = gv.Points(frame, kdims=["longitude", "latitude"], vdims=["place"], crs=ccrs.PlateCarree()).opts(
        color="#20303f", size=4, tools=[]
    )
    names = gv.Labels(frame, kdims=["longitude", "latitude"], vdims=["place"], crs=ccrs.PlateCarree()).opts(
        **LABEL_STYLE
    )
    return dots, names


def overlay_title(variable: CanonicalVariable, variable_id: str, unit: str, source_name: str) -> str:
    """ "Temperature (2 m), ensemble median (°F) — NOAA GEFS"."""
    return f"{variable.display_name_of(variable_id)}, ensemble median ({units.label(unit)}) — {source_name}"


def overlay_points(frame: pd.DataFrame, variable: CanonicalVariable | None, unit: str, title: str) -> gv.Points:
    """The map summary's median per cell in ``unit``, coloured with a titled colour bar."""
    data = pd.DataFrame(columns=["longitude", "latitude", "median"], dtype="float64")
    if variable is not None and not frame.empty:
        data = pd.DataFrame(
            {
                "longitude": frame["longitude"].to_numpy(),
                "latitude": frame["latitude"].to_numpy(),
                "median": units.convert(frame["median"].to_numpy(), variable.native_units, unit),
            }
        )
    shown = data["median"].dropna()
    limits = (float(shown.min()), float(shown.max())) if not shown.empty else (0.0, 1.0)
    if limits[0] == limits[1]:
        limits = (limits[0] - 0.5, limits[1] + 0.5)
    median = hv.Dimension("median", label=title or "median")
    return gv.Points(data, kdims=["longitude", "latitude"], vdims=[median], crs=ccrs.PlateCarree()).opts(
        color="median",
        cmap=OVERLAY_CMAP,
        clim=limits,
        marker="square",
        size=12,
        alpha=0.55,
        colorbar=True,
        colorbar_position="bottom",
        colorbar_opts={"title_text_font_size": "12px", "title_text_font_style": "normal"},
        hooks=[follow_colour_bar],
        hover_tooltips=[("median", f"@median{{0.0}} {units.label(unit)}")],
        tools=["hover"],
    )


def follow_colour_bar(plot: Any, element: gv.Points) -> None:
    """HoloViews draws a colour bar once: keep its title, range and visibility with each update."""
    bar = plot.handles.get("color_colorbar") or plot.handles.get("colorbar")
    if bar is None:
        return
    shown = len(element) > 0
    bar.visible = shown
    if shown:
        bar.title = element.vdims[0].label
        low, high = element.opts.get().kwargs.get("clim", (None, None))
        if low is not None:
            bar.color_mapper.update(low=low, high=high)


def zone_of(gazetteer: Gazetteer, frame: pd.DataFrame) -> ZoneInfo:
    """The time zone of the place nearest the middle of the cells (UTC if none is known)."""
    if frame.empty:
        return ZoneInfo("UTC")
    latitude = float(frame["latitude"].median())
    longitude = float(frame["longitude"].median())
    place = gazetteer.nearest_city(latitude, longitude)
    try:
        return ZoneInfo(place.timezone) if place is not None and place.timezone else ZoneInfo("UTC")
    except ZoneInfoNotFoundError:
        return ZoneInfo("UTC")


def lead_label(init_time: datetime, lead_hours: float, zone: ZoneInfo) -> str:
    """ "Thu 27 Nov 18:00 MST (+24 h)": the valid time of a lead in local time."""
    valid = (init_time + timedelta(hours=lead_hours)).astimezone(zone)
    return f"{valid:%a %d %b %H:%M} {valid.tzname()} (+{lead_hours:g} h)"


def lead_labels(init_time: datetime | None, leads: list[float], zone: ZoneInfo) -> dict[str, float]:
    """label → lead hours, in lead order (labels of the bare hours when the init is unknown)."""
    if init_time is None:
        return {f"+{lead:g} h": lead for lead in leads}
    return {lead_label(init_time, lead, zone): lead for lead in leads}


def box_around(place: Place) -> tuple[float, float, float, float]:
    """(west, south, east, north) to show for a found place: its extent, or a city's surroundings."""
    if place.extent is not None:
        south, north, west, east = place.extent
        pad_x, pad_y = max((east - west) * 0.08, 0.3), max((north - south) * 0.08, 0.3)
        return west - pad_x, max(south - pad_y, -85.0), east + pad_x, min(north + pad_y, 85.0)
    return box_at(place.latitude, place.longitude)


def box_at(latitude: float, longitude: float) -> tuple[float, float, float, float]:
    span_x, span_y = CITY_SPAN
    return longitude - span_x, max(latitude - span_y, -85.0), longitude + span_x, min(latitude + span_y, 85.0)


def points_table(statuses: list[tuple[Point, str]]) -> str:
    """The saved points as an HTML table: name, position and forecast status (names escaped)."""
    rows = "".join(
        f"<tr><td class='fp-point-name'>{escape(point.point_name)}</td>"
        f"<td>{escape(format_position(point.latitude, point.longitude))}</td>"
        f"<td class='fp-status' data-status='{status}'>"
        f"<span style='color:{POINT_COLORS[status]}' aria-hidden='true'>●</span> {STATUS_TEXT[status]}</td></tr>"
        for point, status in statuses
    )
    return (
        "<table class='fp-points'><caption>Saved points</caption><tr><th scope='col'>Point</th>"
        f"<th scope='col'>Position</th><th scope='col'>Forecast</th></tr>{rows}</table>"
    )
