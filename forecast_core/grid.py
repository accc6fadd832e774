"""Regular latitude/longitude grids and nearest-cell lookup (pure functions, no I/O).

The pipeline records each source's grid in the run manifest, so the app can preview the nearest
grid cell of a clicked point without touching the forecast store.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, PositiveInt

from forecast_core.base import ContractModel
from forecast_core.points import great_circle_km, normalize_longitude


class GridSpec(ContractModel):
    """A regular grid: first value, signed step and count along each axis (degrees).

    dynamical.org's 0.25° grids: latitude 90 → −90 (step −0.25, 721 values), longitude
    −180 → 179.75 (step 0.25, 1440 values).
    """

    latitude_first: Annotated[float, Field(ge=-90, le=90)]
    latitude_step: float
    latitude_count: PositiveInt
    longitude_first: Annotated[float, Field(ge=-180, le=360)]
    longitude_step: float
    longitude_count: PositiveInt

    @property
    def is_global_longitude(self) -> bool:
        return math.isclose(abs(self.longitude_step) * self.longitude_count, 360.0, abs_tol=1e-6)


@dataclass(frozen=True, slots=True)
class LatLonBox:
    """A latitude/longitude box in degrees (longitude −180…180, not crossing the antimeridian)."""

    south: float
    north: float
    west: float
    east: float

    def __post_init__(self) -> None:
        if not (-90 <= self.south <= self.north <= 90 and -180 <= self.west <= self.east <= 180):
            raise ValueError(f"invalid box {self}: need south ≤ north and west ≤ east, inside the globe")

    @classmethod
    def parse(cls, text: str) -> LatLonBox:
        """``S,N,W,E`` in degrees, e.g. ``36.5,41.5,-109.5,-103.5``."""
        parts = [float(part) for part in text.split(",")]
        if len(parts) != 4:
            raise ValueError(f"{text!r} is not S,N,W,E")
        return cls(*parts)

    @classmethod
    def around(cls, coordinates: Iterable[tuple[float, float]]) -> LatLonBox:
        """The smallest box holding every (latitude, longitude)."""
        latitudes, longitudes = zip(*coordinates, strict=True)
        return cls(min(latitudes), max(latitudes), min(longitudes), max(longitudes))


@dataclass(frozen=True, slots=True)
class GridCell:
    """The grid cell nearest to a requested point."""

    latitude_index: int
    longitude_index: int
    latitude: float
    longitude: float
    distance_km: float


class OutsideGrid(ValueError):
    """The point lies outside the grid's coverage."""


def nearest_cell(grid: GridSpec, latitude: float, longitude: float) -> GridCell:
    """Nearest cell to (latitude, longitude); longitude may be −180…180 or 0…360.

    On a global grid longitude wraps (a point at 179.9° maps to −180° if that is nearer). Raises
    OutsideGrid when the point is more than half a step beyond the grid's edge.
    """
    if not math.isfinite(latitude) or not -90 <= latitude <= 90:
        raise OutsideGrid(f"latitude {latitude} is outside −90…90")
    lon = normalize_longitude(longitude)
    lat_index = round((latitude - grid.latitude_first) / grid.latitude_step)
    if not 0 <= lat_index < grid.latitude_count:
        raise OutsideGrid(f"latitude {latitude} is outside the grid")
    first_lon = normalize_longitude(grid.longitude_first)
    offset = (lon - first_lon) / grid.longitude_step
    if grid.is_global_longitude:
        lon_index = round(offset) % grid.longitude_count
    else:
        lon_index = round(offset)
        if not 0 <= lon_index < grid.longitude_count:
            raise OutsideGrid(f"longitude {longitude} is outside the grid")
    cell_lat = grid.latitude_first + lat_index * grid.latitude_step
    cell_lon = normalize_longitude(first_lon + lon_index * grid.longitude_step)
    return GridCell(
        latitude_index=lat_index,
        longitude_index=lon_index,
        latitude=cell_lat,
        longitude=cell_lon,
        distance_km=great_circle_km(latitude, lon, cell_lat, cell_lon),
    )


DYNAMICAL_QUARTER_DEGREE = GridSpec(
    latitude_first=90.0,
    latitude_step=-0.25,
    latitude_count=721,
    longitude_first=-180.0,
    longitude_step=0.25,
    longitude_count=1440,
)
"""The 0.25° global grid of GEFS 35-day and IFS ENS 15-day (for previews before a first run)."""
