"""What one run reads from one source: the init, the grid, point cells and chunk tiles.

Everything here works on the store's *metadata and coordinates* only (never data variables), so
planning a source costs a few small reads. Grouping points by the store's inner chunk is what
lets the run read each needed chunk exactly once (see ``extraction.tiles``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import xarray as xr

from forecast_core.grid import GridCell, GridSpec, OutsideGrid, nearest_cell
from forecast_core.points import Point

MEMBER_DIM, LEAD_DIM, LAT_DIM, LON_DIM, INIT_DIM = "ensemble_member", "lead_time", "latitude", "longitude", "init_time"


class NoInitWithData(RuntimeError):
    """The source has no init whose data has been ingested."""


@dataclass(frozen=True, slots=True)
class InitChoice:
    """The init a run uses and how complete it is."""

    index: int
    init_time: datetime
    lead_seconds: npt.NDArray[np.float64]
    ingested_seconds: npt.NDArray[np.float64]  # per member (NaN: none); constant across members for IFS ENS
    expected_seconds: float | None

    @property
    def ingested_lead_hours(self) -> float | None:
        finite = self.ingested_seconds[np.isfinite(self.ingested_seconds)]
        return float(finite.max()) / 3600.0 if finite.size else None

    @property
    def is_partial(self) -> bool:
        hours = self.ingested_lead_hours
        last_lead = float(self.lead_seconds[-1]) / 3600.0
        expected = self.expected_seconds / 3600.0 if self.expected_seconds is not None else last_lead
        return hours is not None and hours < min(expected, last_lead)


def _seconds(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Timedelta (or float seconds) array → float seconds with NaN for NaT."""
    array = np.asarray(values)
    if np.issubdtype(array.dtype, np.timedelta64):
        nat = np.isnat(array)
        seconds = array.astype("timedelta64[us]").astype(np.int64).astype(np.float64) / 1e6
        return np.where(nat, np.nan, seconds)
    return array.astype(np.float64)


def _utc(value: np.datetime64) -> datetime:
    micros = int(np.datetime64(value, "us").astype(np.int64))
    return datetime.fromtimestamp(micros / 1e6, tz=UTC)


def choose_init(ds: xr.Dataset, init_time: datetime | None = None, skip_newest: int = 0) -> InitChoice:
    """The newest init with ingested data (or exactly ``init_time`` if given and present).

    ``skip_newest`` passes over that many inits with data first (1 = the one before the newest:
    a backfill of yesterday's run). An init counts as having data when
    ``ingested_forecast_length`` is set (> 0) for at least one member; stores without that
    coordinate are assumed complete.
    """
    to_skip = skip_newest
    inits = ds[INIT_DIM].values
    lead_seconds = _seconds(ds[LEAD_DIM].values)
    members = ds.sizes.get(MEMBER_DIM, 1)
    ingested_all = _seconds(ds["ingested_forecast_length"].values) if "ingested_forecast_length" in ds.coords else None
    expected_all = _seconds(ds["expected_forecast_length"].values) if "expected_forecast_length" in ds.coords else None
    order = range(len(inits) - 1, -1, -1)
    for index in order:
        when = _utc(inits[index])
        if init_time is not None and when != init_time:
            continue
        if ingested_all is None:
            ingested = np.full(members, lead_seconds[-1])
        else:
            row = np.atleast_1d(ingested_all[index])
            ingested = np.broadcast_to(row, (members,)).astype(np.float64).copy()
        if not np.any(np.nan_to_num(ingested, nan=0.0) > 0):
            continue
        if init_time is None and to_skip > 0:
            to_skip -= 1
            continue
        expected = float(expected_all[index]) if expected_all is not None else None
        return InitChoice(index, when, lead_seconds, ingested, expected)
    wanted = (
        f" at {init_time.isoformat()}" if init_time else (f" {skip_newest} before the newest" if skip_newest else "")
    )
    raise NoInitWithData(f"no init with ingested data{wanted}")


def grid_spec(ds: xr.Dataset) -> GridSpec:
    """The regular grid of the store's latitude/longitude coordinates (exactly: raises
    ``IrregularGrid`` when a coordinate is not ``first + i * step``, see ``forecast_core.grid``)."""
    latitudes = np.asarray(ds[LAT_DIM].values, dtype=np.float64).tolist()
    longitudes = np.asarray(ds[LON_DIM].values, dtype=np.float64).tolist()
    return GridSpec.from_coordinates(latitudes, longitudes)


def inner_chunks(ds: xr.Dataset, variable: str) -> dict[str, int]:
    """The variable's inner (read) chunk length per dimension, from its Zarr encoding."""
    array = ds[variable]
    chunks = array.encoding.get("chunks") or array.encoding.get("preferred_chunks")
    if isinstance(chunks, dict):
        return {str(dim): int(size) for dim, size in chunks.items()}
    if chunks is None:
        return {str(dim): int(size) for dim, size in array.sizes.items()}
    return {str(dim): int(size) for dim, size in zip(array.dims, chunks, strict=True)}


@dataclass(frozen=True, slots=True)
class MappedPoint:
    """A point and its nearest grid cell."""

    point: Point
    cell: GridCell


def map_points(grid: GridSpec, points: Iterable[Point]) -> tuple[list[MappedPoint], list[tuple[Point, str]]]:
    """Nearest cell of each point (``forecast_core.grid.nearest_cell``, xarray's rule);
    points outside the grid are returned with the reason."""
    mapped: list[MappedPoint] = []
    outside: list[tuple[Point, str]] = []
    for point in points:
        try:
            mapped.append(MappedPoint(point, nearest_cell(grid, point.latitude, point.longitude)))
        except OutsideGrid as error:
            outside.append((point, str(error)))
    return mapped, outside


@dataclass(frozen=True, slots=True)
class MapRegion:
    """A latitude/longitude index box (half-open) of the grid and the lead indices to summarise."""

    lat_start: int
    lat_stop: int
    lon_start: int
    lon_stop: int
    lead_indices: tuple[int, ...]

    @property
    def cell_count(self) -> int:
        return (self.lat_stop - self.lat_start) * (self.lon_stop - self.lon_start)


def map_region(
    grid: GridSpec,
    cells: Sequence[GridCell],
    margin_degrees: float,
    lead_seconds: npt.NDArray[np.float64],
    lead_hours: Sequence[float],
) -> MapRegion | None:
    """Index box covering every cell plus ``margin_degrees``, and the configured leads present.

    The box does not wrap across the antimeridian (it spans the cells' index range); None when
    there are no cells.
    """
    if not cells:
        return None
    lat_margin = int(np.ceil(margin_degrees / abs(grid.latitude_step)))
    lon_margin = int(np.ceil(margin_degrees / abs(grid.longitude_step)))
    lat_idx = [cell.latitude_index for cell in cells]
    lon_idx = [cell.longitude_index for cell in cells]
    wanted = {round(hours * 3600.0) for hours in lead_hours}
    leads = tuple(int(i) for i, value in enumerate(lead_seconds) if round(float(value)) in wanted)
    return MapRegion(
        lat_start=max(0, min(lat_idx) - lat_margin),
        lat_stop=min(grid.latitude_count, max(lat_idx) + lat_margin + 1),
        lon_start=max(0, min(lon_idx) - lon_margin),
        lon_stop=min(grid.longitude_count, max(lon_idx) + lon_margin + 1),
        lead_indices=leads,
    )


@dataclass(slots=True)
class Tile:
    """One (latitude chunk, longitude chunk) of the grid and what the run needs from it."""

    lat_chunk: int
    lon_chunk: int
    lat_start: int
    lat_stop: int
    lon_start: int
    lon_stop: int
    point_positions: list[int] = field(default_factory=list)  # indices into the mapped points


def plan_tiles(
    mapped: Sequence[MappedPoint], region: MapRegion | None, chunks: dict[str, int], grid: GridSpec
) -> list[Tile]:
    """The chunk tiles holding the points' cells or overlapping the map region, each once."""
    lat_len, lon_len = chunks[LAT_DIM], chunks[LON_DIM]
    tiles: dict[tuple[int, int], Tile] = {}

    def tile(lat_chunk: int, lon_chunk: int) -> Tile:
        key = (lat_chunk, lon_chunk)
        if key not in tiles:
            tiles[key] = Tile(
                lat_chunk,
                lon_chunk,
                lat_chunk * lat_len,
                min((lat_chunk + 1) * lat_len, grid.latitude_count),
                lon_chunk * lon_len,
                min((lon_chunk + 1) * lon_len, grid.longitude_count),
            )
        return tiles[key]

    for position, item in enumerate(mapped):
        tile(item.cell.latitude_index // lat_len, item.cell.longitude_index // lon_len).point_positions.append(position)
    if region is not None and region.lead_indices:
        for lat_chunk in range(region.lat_start // lat_len, (region.lat_stop - 1) // lat_len + 1):
            for lon_chunk in range(region.lon_start // lon_len, (region.lon_stop - 1) // lon_len + 1):
                tile(lat_chunk, lon_chunk)
    return [tiles[key] for key in sorted(tiles)]
