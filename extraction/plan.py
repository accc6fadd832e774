"""What one run reads from one source: the init, the grid, point cells and chunk tiles.

Everything here works on the store's *metadata and coordinates* only (never data variables), so
planning a source costs a few small reads (``extraction.source_io.read_metadata``: one gather).
Grouping points by the store's inner chunk is what lets the run read each needed chunk exactly
once (see ``extraction.tiles``). The functions taking a source also take an xarray Dataset
(notebooks, smoke tools, the benchmarks' baselines): its coordinates are read the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from forecast_core.grid import GridCell, GridSpec, OutsideGrid, nearest_cell
from forecast_core.points import Point

if TYPE_CHECKING:
    import xarray as xr

MEMBER_DIM, LEAD_DIM, LAT_DIM, INIT_DIM = "ensemble_member", "lead_time", "latitude", "init_time"
LON_DIM = "longitude"


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """A raw field's array metadata: dimension names, shape, inner (read) chunk per dimension, attributes."""

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    chunks: dict[str, int]
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SourceMetadata:
    """What planning reads of a source: decoded coordinates and the asked fields that exist."""

    init_times: list[datetime]
    lead_seconds: npt.NDArray[np.float64]
    members: npt.NDArray[np.int16]
    latitudes: npt.NDArray[np.float64]
    longitudes: npt.NDArray[np.float64]
    ingested_seconds: npt.NDArray[np.float64] | None  # (init,) or (init, member); NaN: nothing ingested
    expected_seconds: npt.NDArray[np.float64] | None  # (init,)
    fields: dict[str, FieldInfo] = field(default_factory=dict)

    @classmethod
    def of_dataset(cls, ds: xr.Dataset) -> SourceMetadata:
        """The coordinates of an xarray Dataset opened on a source (its fields are not described)."""

        def optional(name: str) -> npt.NDArray[np.float64] | None:
            return _seconds(ds[name].values) if name in ds.coords else None

        def axis(name: str) -> npt.NDArray[np.float64]:
            return np.asarray(ds[name].values if name in ds.variables else [], dtype=np.float64)

        members = ds[MEMBER_DIM].values if MEMBER_DIM in ds.dims else np.zeros(1)
        return cls(
            init_times=[_utc(value) for value in np.atleast_1d(ds[INIT_DIM].values)],
            lead_seconds=_seconds(ds[LEAD_DIM].values),
            members=np.asarray(members, dtype=np.int16),
            latitudes=axis(LAT_DIM),
            longitudes=axis(LON_DIM),
            ingested_seconds=optional("ingested_forecast_length"),
            expected_seconds=optional("expected_forecast_length"),
        )


def _metadata(source: SourceMetadata | xr.Dataset) -> SourceMetadata:
    return source if isinstance(source, SourceMetadata) else SourceMetadata.of_dataset(source)


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


def choose_init(
    source: SourceMetadata | xr.Dataset, init_time: datetime | None = None, skip_newest: int = 0
) -> InitChoice:
    """The newest init with ingested data (or exactly ``init_time`` if given and present).

    ``skip_newest`` passes over that many inits with data first (1 = the one before the newest:
    a backfill of yesterday's run). An init counts as having data when
    ``ingested_forecast_length`` is set (> 0) for at least one member; stores without that
    coordinate are assumed complete.
    """
    meta = _metadata(source)
    to_skip = skip_newest
    lead_seconds = meta.lead_seconds
    members = meta.members.size
    for index in range(len(meta.init_times) - 1, -1, -1):
        when = meta.init_times[index]
        if init_time is not None and when != init_time:
            continue
        if meta.ingested_seconds is None:
            ingested = np.full(members, lead_seconds[-1])
        else:
            row = np.atleast_1d(meta.ingested_seconds[index])
            ingested = np.broadcast_to(row, (members,)).astype(np.float64).copy()
        if not np.any(np.nan_to_num(ingested, nan=0.0) > 0):
            continue
        if init_time is None and to_skip > 0:
            to_skip -= 1
            continue
        expected = float(meta.expected_seconds[index]) if meta.expected_seconds is not None else None
        return InitChoice(index, when, lead_seconds, ingested, expected)
    wanted = (
        f" at {init_time.isoformat()}" if init_time else (f" {skip_newest} before the newest" if skip_newest else "")
    )
    raise NoInitWithData(f"no init with ingested data{wanted}")


def grid_spec(source: SourceMetadata | xr.Dataset) -> GridSpec:
    """The regular grid of the source's latitude/longitude coordinates (exactly: raises
    ``IrregularGrid`` when a coordinate is not ``first + i * step``, see ``forecast_core.grid``)."""
    if isinstance(source, SourceMetadata):
        latitudes, longitudes = source.latitudes, source.longitudes
    else:  # a Dataset: its latitude/longitude only (it need not have the other coordinates)
        latitudes, longitudes = (np.asarray(source[name].values, dtype=np.float64) for name in (LAT_DIM, LON_DIM))
    return GridSpec.from_coordinates(latitudes.tolist(), longitudes.tolist())


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
