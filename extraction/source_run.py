"""One source within a run: plan its tile jobs, then assemble the tile results into artifacts.

``plan_source`` opens the source (pinned to one Icechunk snapshot), reads its coordinates and
fields' metadata in one gather, picks the init, maps the points, checks each variable's fields
and units, and returns picklable ``TileJob``s.
``assemble_source`` turns the tile results into the three tables per output variable, one
variable at a time (so the caller can encode one while the next is built), recording ``all_nan``
points as errors and leaving them out of the tables.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from extraction.derive import DerivationError, UnitMismatch, check_fields, ingested_mask, step_seconds
from extraction.plan import (
    LAT_DIM,
    LON_DIM,
    InitChoice,
    MappedPoint,
    MapRegion,
    SourceMetadata,
    choose_init,
    grid_spec,
    map_points,
    map_region,
    plan_tiles,
)
from extraction.source_io import open_pinned, read_metadata
from extraction.sources import SourceUnavailable
from extraction.tables import CellSeries, ColumnCache, SeriesContext, map_table, points_table, summary_table
from extraction.tiles import TileJob, TileResult, VariableJob
from forecast_core.grid import GridSpec, IrregularGrid
from forecast_core.layout import ArtifactKind
from forecast_core.points import Point
from forecast_core.registry import CanonicalVariable, MapSummarySettings, SourceEntry, node_fields
from forecast_core.status import ExtractionError, SourceRunInfo
from forecast_core.transient import RetryPolicy, retry_transient


@dataclass(slots=True)
class SourcePlan:
    """A planned source: what to read and how to label it."""

    source: SourceEntry
    init: InitChoice
    grid: GridSpec
    mapped: list[MappedPoint]
    region: MapRegion | None
    variables: list[VariableJob]
    output_units: dict[str, str]
    members: npt.NDArray[np.int16]
    ingested: npt.NDArray[np.bool_]
    jobs: list[TileJob]
    tile_cells: list[range]  # per job: the source-wide rows of the distinct cells it reads
    tile_map_boxes: list[tuple[int, int, int, int] | None]  # per job: region-relative placement
    snapshot_id: str | None = None
    errors: list[ExtractionError] = field(default_factory=list)
    point_cells: npt.NDArray[np.intp] = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    """Per mapped point, the row of its grid cell: points sharing a cell are derived once."""
    cell_count: int = 0

    def run_info(self) -> SourceRunInfo:
        return SourceRunInfo(
            source_id=self.source.source_id,
            init_time=self.init.init_time,
            is_partial=self.init.is_partial,
            ingested_lead_hours=self.init.ingested_lead_hours,
            expected_lead_hours=None if self.init.expected_seconds is None else self.init.expected_seconds / 3600,
            member_count=int(self.members.size),
            variables=sorted(self.output_units),
            grid=self.grid,
            snapshot_id=self.snapshot_id,
        )


def _variable_jobs(
    meta: SourceMetadata, source_id: str, variables: Sequence[CanonicalVariable], wanted: set[str]
) -> tuple[list[VariableJob], dict[str, str], list[ExtractionError]]:
    attributes = {name: info.attributes for name, info in meta.fields.items()}
    jobs: list[VariableJob] = []
    units: dict[str, str] = {}
    errors: list[ExtractionError] = []
    for variable in variables:
        node = variable.derivations.get(source_id)
        total = variable.running_total.variable_id if variable.running_total else None
        if node is None:
            continue  # this variable is not defined for this source
        try:
            check_fields(node, attributes)
        except DerivationError as error:
            errors.append(
                ExtractionError(
                    kind="unit_mismatch" if isinstance(error, UnitMismatch) else "missing_variable",
                    message=str(error),
                    source_id=source_id,
                    variable_id=variable.variable_id,
                )
            )
            continue
        jobs.append(VariableJob(variable.variable_id, node, total if total in wanted else None))
        for output in (variable.variable_id, total):
            if output is not None and output in wanted:
                units[output] = variable.native_units
    return jobs, units, errors


# planning reads metadata and coordinates only: a transient failure (throttled, reset, a cut body
# — Icechunk retries requests but not a body cut short) plans the source again from its open
SOURCE_PLAN_RETRY = RetryPolicy(attempts=5, initial_wait=0.25, max_wait=4.0)


@retry_transient(SOURCE_PLAN_RETRY)
def plan_source(
    source: SourceEntry,
    variables: Sequence[CanonicalVariable],
    wanted: set[str],
    points: Sequence[Point],
    map_points_for_region: Sequence[Point] | None,
    settings: MapSummarySettings,
    init_time: datetime | None = None,
    skip_newest: int = 0,
) -> SourcePlan:
    """Plan the source (metadata and coordinates only), again on transient errors. Raises
    SourceUnavailable (also for a grid the nearest-cell rule cannot hold exactly) / NoInitWithData
    / LimitExceeded.

    ``init_time`` pins the init; else the newest with data, passing over ``skip_newest`` of them.
    """
    opened, pinned, snapshot = open_pinned(source)
    asked = {name for variable in variables if (node := variable.derivations.get(source.source_id))
             for name in node_fields(node)}  # fmt: skip
    try:
        meta = read_metadata(opened, sorted(asked))
    except (KeyError, ValueError) as error:  # no such coordinate, or units the plan cannot decode
        raise SourceUnavailable(f"source {source.source_id}: {error}") from error
    init = choose_init(meta, init_time, skip_newest)
    try:
        grid = grid_spec(meta)
    except IrregularGrid as error:
        raise SourceUnavailable(f"source {source.source_id}: {error}") from error
    mapped, outside = map_points(grid, points)
    errors = [
        ExtractionError(kind="point_outside_grid", message=reason, source_id=source.source_id, point_id=p.point_id)
        for p, reason in outside
    ]
    jobs_vars, units, var_errors = _variable_jobs(meta, source.source_id, variables, wanted)
    errors += var_errors
    region = None
    if map_points_for_region:
        region_cells = [m.cell for m in map_points(grid, map_points_for_region)[0]]
        region = map_region(grid, region_cells, settings.margin_degrees, init.lead_seconds, settings.lead_hours)
        if region is not None and region.cell_count > settings.max_cells:
            raise LimitExceeded(f"map region has {region.cell_count} cells; the limit is {settings.max_cells}")
    members = meta.members
    ingested = ingested_mask(init.lead_seconds, init.ingested_seconds)
    fields = sorted({name for job in jobs_vars for name in _fields(job)})
    plan = SourcePlan(source=pinned, init=init, grid=grid, mapped=mapped, region=region, variables=jobs_vars,
                      output_units=units, members=members, ingested=ingested, jobs=[], tile_cells=[],
                      tile_map_boxes=[], snapshot_id=snapshot, errors=errors)  # fmt: skip
    if not fields:
        return plan
    steps = step_seconds(init.lead_seconds)
    cell_rows: dict[tuple[int, int], int] = {}  # (lat index, lon index) -> row; a cell is in one tile
    plan.point_cells = np.zeros(len(mapped), dtype=np.intp)
    for tile in plan_tiles(mapped, region, meta.fields[fields[0]].chunks, grid):
        box = local = None
        if region is not None and region.lead_indices:
            lat0, lat1 = max(tile.lat_start, region.lat_start), min(tile.lat_stop, region.lat_stop)
            lon0, lon1 = max(tile.lon_start, region.lon_start), min(tile.lon_stop, region.lon_stop)
            if lat0 < lat1 and lon0 < lon1:
                local = (lat0 - tile.lat_start, lat1 - tile.lat_start, lon0 - tile.lon_start, lon1 - tile.lon_start)
                box = (
                    lat0 - region.lat_start,
                    lat1 - region.lat_start,
                    lon0 - region.lon_start,
                    lon1 - region.lon_start,
                )
        first_row = len(cell_rows)
        for position in tile.point_positions:
            cell = (mapped[position].cell.latitude_index, mapped[position].cell.longitude_index)
            plan.point_cells[position] = cell_rows.setdefault(cell, len(cell_rows))
        cells = list(cell_rows)[first_row:]
        rows = tuple(lat - tile.lat_start for lat, _ in cells)
        cols = tuple(lon - tile.lon_start for _, lon in cells)
        plan.jobs.append(
            TileJob(pinned, init.index, tile.lat_start, tile.lat_stop, tile.lon_start, tile.lon_stop, tuple(fields),
                    tuple(jobs_vars), steps, ingested, rows, cols, local, region.lead_indices if region else ())
        )  # fmt: skip
        plan.tile_cells.append(range(first_row, len(cell_rows)))
        plan.tile_map_boxes.append(box)
    plan.cell_count = len(cell_rows)
    return plan


def _fields(job: VariableJob) -> list[str]:
    return node_fields(job.node)


class LimitExceeded(RuntimeError):
    """A configured bound of the run is exceeded; the run fails instead of truncating."""


@dataclass(slots=True)
class VariableTables:
    """The tables built for one output variable of a source, per artifact kind."""

    variable_id: str
    tables: dict[ArtifactKind, pa.Table]
    errors: list[ExtractionError]


def assemble_source(
    plan: SourcePlan, results: Sequence[TileResult], ds_coords: dict[str, np.ndarray]
) -> Iterator[VariableTables]:
    """Concatenate tile results per variable and build points / summary / map tables, yielding
    each variable's tables as soon as they are built."""
    n_members, n_leads = plan.ingested.shape
    region = plan.region
    cache: ColumnCache = {}
    for variable_id, units in sorted(plan.output_units.items()):
        # (cell, lead, member): the row order of points.parquet, so a point is one contiguous block
        values = np.full((plan.cell_count, n_leads, n_members), np.nan, dtype=np.float32)
        mosaic: dict[str, npt.NDArray[np.float32]] = {}
        if region is not None and region.lead_indices:
            shape = (len(region.lead_indices), region.lat_stop - region.lat_start, region.lon_stop - region.lon_start)
            mosaic = {name: np.full(shape, np.nan, dtype=np.float32) for name in ("median", "q10", "q90")}
            mosaic["member_count"] = np.zeros(shape, dtype=np.float32)
        for cells, box, result in zip(plan.tile_cells, plan.tile_map_boxes, results, strict=True):
            if cells:
                values[cells.start : cells.stop] = result.points[variable_id].transpose(2, 1, 0)
            if box is not None and variable_id in result.maps:
                for name, stat in result.maps[variable_id].items():
                    mosaic[name][:, box[0] : box[1], box[2] : box[3]] = stat
        has_data = np.isfinite(values).any(axis=(1, 2))[plan.point_cells]
        errors: list[ExtractionError] = []
        for position in np.nonzero(~has_data)[0]:
            point = plan.mapped[int(position)].point
            errors.append(
                ExtractionError(
                    kind="all_nan",
                    message=f"no data at the nearest cell of {point.point_id} for {variable_id}",
                    source_id=plan.source.source_id,
                    variable_id=variable_id,
                    point_id=point.point_id,
                )
            )
        keep = [int(i) for i in np.nonzero(has_data)[0]]
        kept_points = [plan.mapped[i] for i in keep]
        series = CellSeries(values, plan.point_cells[keep])
        context = SeriesContext(plan.source.source_id, variable_id, units, plan.init.init_time,
                                plan.init.lead_seconds, plan.members, plan.ingested)  # fmt: skip
        built: dict[ArtifactKind, pa.Table] = {
            "points": points_table(context, kept_points, series, cache),
            "ensemble_summary": summary_table(context, kept_points, series, cache),
        }
        if mosaic and region is not None:
            lat = ds_coords[LAT_DIM][region.lat_start : region.lat_stop]
            lon = ds_coords[LON_DIM][region.lon_start : region.lon_stop]
            built["map_summary"] = map_table(context, region.lead_indices, lat, lon, mosaic)
        yield VariableTables(variable_id, built, errors)


def region_coordinates(plan: SourcePlan) -> dict[str, np.ndarray]:
    """Latitude/longitude coordinate values of the grid (from its GridSpec, no I/O)."""
    grid = plan.grid
    lat = grid.latitude_first + np.arange(grid.latitude_count) * grid.latitude_step
    lon = grid.longitude_first + np.arange(grid.longitude_count) * grid.longitude_step
    lon = np.where(lon >= 180.0, lon - 360.0, lon)  # −180…180, exactly (as normalize_longitude)
    return {LAT_DIM: lat, LON_DIM: lon}
