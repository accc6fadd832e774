"""The overview's header text (plain data → escaped HTML): the point, its time zone, and per source
the grid cell and init shown."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from forecast_core.grid import DYNAMICAL_QUARTER_DEGREE, GridSpec, OutsideGrid, nearest_cell
from forecast_core.points import Point
from forecast_core.registry import CONSENSUS_ID
from forecast_panel.frames import escape
from forecast_panel.localtime import UTC_ZONE, zone_label
from forecast_panel.selection import PANELS
from forecast_panel.state import OverviewState, age_text


def grid_cell(summary: pa.Table | None, point: Point | None, grid: GridSpec | None) -> str:
    """'39.00°N 105.25°W, 3.1 km away' from the summary's grid columns, else the manifest grid."""
    if summary is not None and len(summary) and "grid_latitude" in summary.column_names:
        first = {name: summary.column(name)[0].as_py() for name in ("grid_latitude", "grid_longitude")}
        lat, lon = float(first["grid_latitude"]), float(first["grid_longitude"])
        distance = summary.column("grid_distance_km")[0].as_py() if "grid_distance_km" in summary.column_names else None
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


def source_lines(state: OverviewState) -> list[tuple[str, str]]:
    """Per selected source: (colour, 'name: grid cell …, init … UTC (partial …)')."""
    manifest = state.manifest()
    registry = state.datastore.registry()
    point = state.point()
    variable = next(iter(PANELS.values())).variable_id
    out = []
    for source_id in state.selection.sources:
        if source_id == CONSENSUS_ID:  # no grid cell or init of its own: the notes say what it holds
            continue
        entry = next((item for item in registry.sources if item.source_id == source_id), None) if registry else None
        info = next((item for item in manifest.sources if item.source_id == source_id), None) if manifest else None
        summary = None
        if state.selection.point and not state.is_pending():
            summary = state.datastore.point_table(
                "ensemble_summary", source_id, variable, str(state.selection.point), state.init_date()
            )
        text = entry.display_name if entry else source_id
        cell = grid_cell(summary, point, info.grid if info else None)
        if cell:
            text += f": grid cell {cell}"
        if summary is not None and len(summary):
            init_time = summary.column("init_time")[0].as_py()
            text += f", init {init_time:%Y-%m-%d %H:%M} UTC"
            if info is not None and info.is_partial and info.init_time == init_time and info.ingested_lead_hours:
                text += f" (partial: ingested to {info.ingested_lead_hours:g} h)"
        out.append((entry.color if entry else "#0072b2", text))
    return out


def header_html(state: OverviewState) -> str:
    """The header: the point and the zone times are shown in, then (smaller) the sources and run."""
    manifest = state.manifest()
    zone = state.zone()
    where = "times in UTC" if zone == UTC_ZONE else f"times in {zone_label(zone)}"
    title = f"<b class='fp-point'>{escape(state.point_name())}</b> · <span class='fp-zone'>{escape(where)}</span>"
    details = [
        f"<span class='fp-swatch' style='color:{escape(color)}' aria-hidden='true'>■</span> {escape(text)}"
        for color, text in source_lines(state)
    ]
    if manifest is not None:
        details.append(f"data from run {escape(manifest.run_id)}, {escape(age_text(manifest.created_utc))}")
    elif state.point() is None:
        details.append("no extraction has been published yet")
    return f"<div class='fp-title'>{title}<div class='fp-details'>{' · '.join(details)}</div></div>"
