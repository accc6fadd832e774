"""One source's published frames of one point as an ``xarray.Dataset`` (pure; imports xarray).

Kept apart from ``explore`` so that the dashboard, which never imports xarray, can import the
exploration module's neighbours without it; only ``ForecastStore.dataset`` loads this module.

Layout: the variable over (``member``, ``valid_time``), each ensemble statistic over
``valid_time``, ``lead_hours`` and (when the frames carry it, as ``ForecastStore``'s do)
``valid_local`` as coordinates. ``valid_time`` is naive UTC (numpy has no time zones);
``valid_local`` is the local wall time, its zone in the coordinate's ``tz`` attribute.
"""

from __future__ import annotations

import pandas as pd
import xarray as xr

from forecast_core.points import Point
from forecast_panel import frames as fr


def to_dataset(
    members: pd.DataFrame, summary: pd.DataFrame, *, variable: str, point: Point, run_id: str | None
) -> xr.Dataset:
    """The Dataset of one source's ``members`` and ``summary`` rows (see the module doc).

    Raises ValueError when there are no member rows (the point has no forecast yet)."""
    if members.empty:
        raise ValueError(f"{point.point_name}: no forecast yet for {variable} (configured after the latest run?)")
    unit = str(members["units"].iloc[0])
    members = members.assign(valid=fr.naive_utc(members["valid_time"]))
    grid = members.pivot(index="valid", columns="ensemble_member", values="value").sort_index()
    times = grid.index.to_numpy(dtype="datetime64[ns]")
    leads = members.drop_duplicates("valid").set_index("valid")["lead_hours"].reindex(grid.index)
    coords: dict[str, object] = {
        "member": grid.columns.to_numpy(dtype="int16"),
        "valid_time": ("valid_time", times, {"time_zone": "UTC"}),
        "lead_hours": ("valid_time", leads.to_numpy(dtype="float64")),
    }
    if "valid_local" in members:
        local = members.drop_duplicates("valid").set_index("valid")["valid_local"].reindex(grid.index)
        zone = str(local.dt.tz)
        wall = local.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
        coords["valid_local"] = ("valid_time", wall, {"tz": zone})
    data_vars: dict[str, object] = {
        variable: (("member", "valid_time"), grid.to_numpy(dtype="float32").T, {"units": unit}),
    }
    if not summary.empty:
        stats = summary.assign(valid=fr.naive_utc(summary["valid_time"])).set_index("valid").reindex(grid.index)
        for name in (*fr.STAT_COLUMNS, "member_count", "is_ingested"):
            if name in stats:
                stat_attrs = {"units": unit} if name in fr.STAT_COLUMNS else {}
                data_vars[name] = ("valid_time", stats[name].to_numpy(), stat_attrs)
    first = summary.iloc[0] if not summary.empty else members.iloc[0]
    attrs: dict[str, str | float] = {
        "source_id": str(members["source_id"].iloc[0]),
        "variable_id": variable,
        "units": unit,
        "point_id": point.point_id,
        "point_name": point.point_name,
        "latitude": point.latitude,
        "longitude": point.longitude,
        "init_time": pd.Timestamp(members["init_time"].iloc[0]).isoformat(),
        "run_id": run_id or "",
    }
    for name in ("grid_latitude", "grid_longitude", "grid_distance_km"):
        if name in first and pd.notna(first[name]):
            attrs[name] = float(first[name])
    return xr.Dataset(data_vars=data_vars, coords=coords, attrs=attrs)
