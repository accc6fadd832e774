"""Regular latitude/longitude grids and the one nearest-cell rule (pure functions, no I/O).

The pipeline records each source's grid in the run manifest, so the app can preview the nearest
grid cell of a clicked point without touching the forecast store. Every component picks cells
with ``nearest_cell`` (extraction, map preview, app state, smoke queries), so they all agree with
each other and with ``ds.sel(latitude=…, longitude=…, method="nearest")`` on the store's own
coordinates (xarray's rule is pandas' ``Index.get_indexer(method="nearest")``):

- axis value ``i`` is ``first + i * step`` in float64, which must equal the store's coordinate
  bit for bit (``GridSpec.from_coordinates`` refuses any other grid);
- the nearest value is the one with the smaller float64 distance ``|value − target|``; an exact
  tie goes to the *greater* coordinate value (on ascending and descending axes alike);
- a target beyond an end of the axis gets the end value: longitude never wraps around.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Annotated

from pydantic import Field, PositiveInt

from forecast_core.base import ContractModel
from forecast_core.points import great_circle_km, normalize_longitude


class IrregularGrid(ValueError):
    """Coordinates that are not exactly ``first + i * step`` (float64), so no GridSpec holds them."""


class GridSpec(ContractModel):
    """A regular grid: first value, signed step and count along each axis (degrees).

    Axis value ``i`` is ``first + i * step`` in float64 (``axis_value``). dynamical.org's 0.25°
    grids: latitude 90 → −90 (step −0.25, 721 values), longitude −180 → 179.75 (step 0.25,
    1440 values).
    """

    latitude_first: Annotated[float, Field(ge=-90, le=90)]
    latitude_step: float
    latitude_count: PositiveInt
    longitude_first: Annotated[float, Field(ge=-180, le=360)]
    longitude_step: float
    longitude_count: PositiveInt

    @classmethod
    def from_coordinates(cls, latitudes: Sequence[float], longitudes: Sequence[float]) -> GridSpec:
        """The grid whose axis values equal these coordinate values exactly (float64).

        The step is ``values[1] − values[0]`` or ``(values[-1] − values[0]) / (n − 1)``, whichever
        rebuilds every value (``np.arange`` and ``np.linspace`` grids both do). Raises
        IrregularGrid, naming the axis and the first value that differs, otherwise.
        """
        latitude_first, latitude_step = _regular_axis("latitude", latitudes)
        longitude_first, longitude_step = _regular_axis("longitude", longitudes)
        return cls(
            latitude_first=latitude_first,
            latitude_step=latitude_step,
            latitude_count=len(latitudes),
            longitude_first=longitude_first,
            longitude_step=longitude_step,
            longitude_count=len(longitudes),
        )

    @property
    def is_global_longitude(self) -> bool:
        return math.isclose(abs(self.longitude_step) * self.longitude_count, 360.0, abs_tol=1e-6)

    @property
    def longitude_west(self) -> float:
        """Start of the grid's longitude convention: −180 (values −180…180) or 0 (values 0…360)."""
        last = axis_value(self.longitude_first, self.longitude_step, self.longitude_count - 1)
        return -180.0 if min(self.longitude_first, last) < 0 else 0.0

    def grid_longitude(self, longitude: float) -> float:
        """``longitude`` (−180…360) in the grid's own convention, ``[west, west + 360)``.

        On a −180…180 grid a longitude ≥ 180 becomes ``longitude − 360``: one subtraction, exact
        (Sterbenz), so 0…360 input selects exactly what its −180…180 twin selects. On a 0…360 grid
        a negative longitude becomes ``longitude + 360`` (rounded to the nearest float64) and 360
        becomes 0.
        """
        west = self.longitude_west
        if longitude >= west + 360.0:
            return longitude - 360.0
        if longitude < west:
            return longitude + 360.0
        return longitude


def axis_value(first: float, step: float, index: int) -> float:
    """Value ``index`` of a regular axis: ``first + index * step`` in float64."""
    return first + index * step


def nearest_index(first: float, step: float, count: int, target: float) -> int:
    """Index of the axis value nearest to ``target``, exactly as xarray's
    ``sel(method="nearest")`` picks it on the axis values ``first + i * step``.

    pandas takes the values either side of the target (pad and backfill) and compares their
    float64 distances ``|value − target|``: the lower value wins only when strictly nearer, so
    an exact tie goes to the greater value, whichever way the axis runs; a target beyond an end
    gets the end. ``target`` must be finite.
    """
    if count == 1:
        return 0
    ascending = step > 0

    def value(rank: int) -> float:  # values in ascending order: rank 0 is the smallest
        return axis_value(first, step, rank if ascending else count - 1 - rank)

    lowest = value(0)
    # the last rank whose value is ≤ target (−1: none): an estimate, then exact float64 checks
    estimate = (target - lowest) / abs(step)
    below = math.floor(min(max(estimate, -1.0), float(count - 1)))
    while below >= 0 and value(below) > target:
        below -= 1
    while below + 1 < count and value(below + 1) <= target:
        below += 1
    above = below if below >= 0 and value(below) == target else below + 1
    if below < 0:
        rank = above
    elif above >= count:
        rank = below
    else:
        rank = below if abs(value(below) - target) < abs(value(above) - target) else above
    return rank if ascending else count - 1 - rank


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
    """The grid cell nearest to a requested point: its indices into the store's latitude and
    longitude axes, its coordinates (longitude shown −180…180) and its distance from the point."""

    latitude_index: int
    longitude_index: int
    latitude: float
    longitude: float
    distance_km: float


class OutsideGrid(ValueError):
    """The point lies outside the grid's coverage."""


def nearest_cell(grid: GridSpec, latitude: float, longitude: float) -> GridCell:
    """The cell ``ds.sel(latitude=latitude, longitude=…, method="nearest")`` selects on the
    store's coordinates, with ``longitude`` (−180…180 or 0…360) first put in the grid's own
    convention (``GridSpec.grid_longitude``).

    As in xarray, longitude does not wrap: on the dynamical.org grid (−180…179.75) a point at
    179.9° gets the 179.75° column although −180° is nearer round the globe, and 180° itself is
    −180°. Raises OutsideGrid for a latitude outside −90…90, a longitude outside −180…360, or a
    point more than half a step beyond the edge of a regional (non-global) axis, where xarray
    would silently return the edge cell.
    """
    if not math.isfinite(latitude) or not -90 <= latitude <= 90:
        raise OutsideGrid(f"latitude {latitude} is outside −90…90")
    if not math.isfinite(longitude) or not -180 <= longitude <= 360:
        raise OutsideGrid(f"longitude {longitude} is outside −180…360")
    lon = grid.grid_longitude(longitude)
    lat_index = nearest_index(grid.latitude_first, grid.latitude_step, grid.latitude_count, latitude)
    lon_index = nearest_index(grid.longitude_first, grid.longitude_step, grid.longitude_count, lon)
    cell_lat = axis_value(grid.latitude_first, grid.latitude_step, lat_index)
    cell_lon = axis_value(grid.longitude_first, grid.longitude_step, lon_index)
    if abs(cell_lat - latitude) > abs(grid.latitude_step) / 2:
        raise OutsideGrid(f"latitude {latitude} is outside the grid")
    if not grid.is_global_longitude and abs(cell_lon - lon) > abs(grid.longitude_step) / 2:
        raise OutsideGrid(f"longitude {longitude} is outside the grid")
    shown_lon = normalize_longitude(cell_lon)
    return GridCell(
        latitude_index=lat_index,
        longitude_index=lon_index,
        latitude=cell_lat,
        longitude=shown_lon,
        distance_km=great_circle_km(latitude, lon, cell_lat, cell_lon),
    )


def _regular_axis(name: str, values: Sequence[float]) -> tuple[float, float]:
    """(first, step) that rebuild ``values`` exactly, strictly monotonic; raises IrregularGrid otherwise."""
    floats = [float(value) for value in values]
    if not floats or not all(math.isfinite(value) for value in floats):
        raise IrregularGrid(f"{name} coordinates must be non-empty and finite")
    first = floats[0]
    if len(floats) == 1:
        return first, 1.0
    if any(left == right for left, right in pairwise(floats)):
        raise IrregularGrid(f"{name} coordinates repeat a value")
    candidates = list(dict.fromkeys((floats[1] - first, (floats[-1] - first) / (len(floats) - 1))))
    for step in candidates:
        if all(axis_value(first, step, i) == value for i, value in enumerate(floats)):
            return first, step
    step = candidates[0]
    index = next(i for i, value in enumerate(floats) if axis_value(first, step, i) != value)
    raise IrregularGrid(
        f"{name} coordinates are not a regular grid: value {index} is {floats[index]!r}, but first + "
        f"{index} × step = {axis_value(first, step, index)!r} (first {first!r}, step {step!r}); the "
        "nearest-cell rule needs coordinates equal to first + i × step in float64"
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
