"""The unit of parallel work: read one chunk tile whole, derive, pick points, summarise the map.

A tile is one (latitude chunk × longitude chunk) of the store's inner chunk grid at one init:
every member and every lead of every raw field the run needs is read in one basic selection per
field, so each needed chunk is fetched once however many points fall in it (and each shard's
index once: ``extraction.source_io.SharedIndexReads``). Picking the points' cells and the map box
out of the in-memory block is plain numpy (``extraction.derive``).

``run_tile`` reads and processes one tile on zarr's I/O loop: its fields' reads are in flight
together, and the caller decides how many tiles are (``extraction.executor``). A ``TileJob`` is
picklable, so a Dask worker runs the same code; each process opens a source once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from extraction.chunk_reads import read_tile_block, shard_layout
from extraction.derive import ensemble_stats, evaluate, running_total
from extraction.plan import INIT_DIM, LAT_DIM, LEAD_DIM, LON_DIM, MEMBER_DIM
from extraction.source_io import opened
from forecast_core.registry import Node, SourceEntry, node_fields
from forecast_core.transient import RetryPolicy, retrying_async

MAP_STATS = ("median", "q10", "q90", "member_count")
# a chunk read (or a worker's open of the source) that failed transiently — throttled, 5xx,
# reset, cut body — is done again whole
TILE_READ_RETRY = RetryPolicy(attempts=5, initial_wait=0.25, max_wait=4.0)


@dataclass(frozen=True, slots=True)
class VariableJob:
    """One canonical variable to derive: its id, derivation and running-total id (if any)."""

    variable_id: str
    node: Node
    total_id: str | None


@dataclass(frozen=True, slots=True)
class TileJob:
    """Everything a worker needs to process one tile (picklable)."""

    source: SourceEntry
    init_index: int
    lat_start: int
    lat_stop: int
    lon_start: int
    lon_stop: int
    fields: tuple[str, ...]
    variables: tuple[VariableJob, ...]
    steps: npt.NDArray[np.float64]
    ingested: npt.NDArray[np.bool_]  # (member, lead)
    point_rows: tuple[int, ...]  # tile-local latitude index of each distinct cell holding points
    point_cols: tuple[int, ...]
    map_box: tuple[int, int, int, int] | None  # tile-local (lat0, lat1, lon0, lon1) of the map region
    map_leads: tuple[int, ...]

    @property
    def block_bytes(self) -> int:
        """Bytes of the tile's decoded fields (float32, every member and lead)."""
        cells = (self.lat_stop - self.lat_start) * (self.lon_stop - self.lon_start)
        return len(self.fields) * int(self.ingested.size) * cells * 4


@dataclass(frozen=True, slots=True)
class TileResult:
    """Per output variable id: values at the points' cells ``(member, lead, cell)`` (job order) and map statistics."""

    points: dict[str, npt.NDArray[np.float32]]
    maps: dict[str, dict[str, npt.NDArray[np.float32]]]  # stat -> (map lead, lat, lon)


class FieldSource(Protocol):
    """Where a tile's fields are read from (``extraction.source_io.OpenedSource``)."""

    async def array(self, name: str) -> Any: ...


BLOCK_ORDER = (MEMBER_DIM, LEAD_DIM, LAT_DIM, LON_DIM)


async def read_block(source: FieldSource, name: str, job: TileJob) -> npt.NDArray[np.float32]:
    """All members and leads of one field in the tile, canonical order (member, lead, lat, lon),
    read again whole on a transient failure (throttled, 5xx, reset, cut body).

    One basic (slice) selection of the zarr array, transposed in numpy afterwards."""
    async for attempt in retrying_async(TILE_READ_RETRY, f"read {name}"):
        with attempt:
            array = await source.array(name)
            dims = [str(dim) for dim in array.metadata.dimension_names]
            block = await _read_selection(source, array, dims, job)
    kept = [dim for dim in dims if dim != INIT_DIM]
    return np.transpose(block, [kept.index(dim) for dim in BLOCK_ORDER])


async def _read_selection(source: FieldSource, array: Any, dims: list[str], job: TileJob) -> npt.NDArray[np.float32]:
    """The tile's selection of ``array`` without the init axis: chunk by chunk off the I/O loop
    where the layout allows (``extraction.chunk_reads``), else through zarr."""
    where = {INIT_DIM: slice(job.init_index, job.init_index + 1), LAT_DIM: slice(job.lat_start, job.lat_stop),
             LON_DIM: slice(job.lon_start, job.lon_stop)}  # fmt: skip
    full = tuple(where.get(dim, slice(0, size)) for dim, size in zip(dims, array.shape, strict=True))
    layout = shard_layout(array)
    block = None if layout is None else await read_tile_block(source, array, layout, full)
    if block is not None:
        return block[tuple(0 if dim == INIT_DIM else slice(None) for dim in dims)]
    chosen = tuple(job.init_index if dim == INIT_DIM else part for dim, part in zip(dims, full, strict=True))
    return np.asarray(await array.getitem(chosen))


def _derive(
    variables: tuple[VariableJob, ...],
    cells: dict[str, npt.NDArray[np.float64]],
    steps: npt.NDArray[np.float64],
    ingested: npt.NDArray[np.bool_],
) -> dict[str, npt.NDArray[np.float64]]:
    """Every output variable (and running total) on ``cells`` ``(member, lead, cell)``; the leads
    must run from the first lead without gaps when a running total is asked for."""
    memo: dict[str, npt.NDArray[np.float64]] = {}
    complete = bool(ingested.all())
    outputs: dict[str, npt.NDArray[np.float64]] = {}
    for variable in variables:
        values = evaluate(variable.node, cells, steps, memo)
        if not complete:
            values = np.where(ingested[:, :, None], values, np.nan)
        outputs[variable.variable_id] = values
        if variable.total_id is not None:
            outputs[variable.total_id] = running_total(values, ingested)
    return outputs


def process_block(fields: dict[str, npt.NDArray[np.float32]], job: TileJob) -> TileResult:
    """Derive the variables on the cells the run needs from an in-memory tile: the points' cells
    at every lead, and the map box at the map leads only (a variable with a running total at
    every lead up to the last map lead: its totals need the steps before); then split into
    series and statistics."""
    rows = np.asarray(job.point_rows, dtype=np.int64)
    cols = np.asarray(job.point_cols, dtype=np.int64)
    point_cells = {name: block[:, :, rows, cols].astype(np.float64) for name, block in fields.items()}
    points = {
        name: values.astype(np.float32)
        for name, values in _derive(job.variables, point_cells, job.steps, job.ingested).items()
    }
    maps: dict[str, dict[str, npt.NDArray[np.float32]]] = {}
    if job.map_box is not None and job.map_leads:
        map_leads = np.asarray(job.map_leads)
        with_totals = tuple(variable for variable in job.variables if variable.total_id is not None)
        without = tuple(variable for variable in job.variables if variable.total_id is None)
        maps.update(_map_statistics(fields, job, with_totals, np.arange(map_leads.max() + 1)))
        maps.update(_map_statistics(fields, job, without, map_leads))
    return TileResult(points=points, maps=maps)


def _map_statistics(
    fields: dict[str, npt.NDArray[np.float32]],
    job: TileJob,
    variables: tuple[VariableJob, ...],
    leads: npt.NDArray[np.int64],
) -> dict[str, dict[str, npt.NDArray[np.float32]]]:
    """``variables`` derived over the map box at ``leads`` (which hold every map lead), and their
    statistics over members at the map leads. Derivations are element-wise along the lead axis,
    so a variable's values at a lead do not depend on which other leads are derived."""
    if not variables:
        return {}
    lat0, lat1, lon0, lon1 = job.map_box or (0, 0, 0, 0)
    needed = {name for variable in variables for name in node_fields(variable.node)}
    cells = {name: _box_values(block, leads, job.map_box) for name, block in fields.items() if name in needed}
    pick = [int(np.nonzero(leads == lead)[0][0]) for lead in job.map_leads]
    maps: dict[str, dict[str, npt.NDArray[np.float32]]] = {}
    for output_id, series in _derive(variables, cells, job.steps[leads], job.ingested[:, leads]).items():
        sub = series[:, pick].reshape(series.shape[0], len(pick), lat1 - lat0, lon1 - lon0)
        maps[output_id] = {name: stat.astype(np.float32) for name, stat in ensemble_stats(sub, MAP_STATS).items()}
    return maps


def _box_values(
    block: npt.NDArray[np.float32], leads: npt.NDArray[np.int64], box: tuple[int, int, int, int] | None
) -> npt.NDArray[np.float64]:
    """The block's values in the (tile-local) box at ``leads``, as float64 ``(member, lead, cell)``,
    copied and converted in one pass (a run of leads from 0 is a slice, not a gather)."""
    lat0, lat1, lon0, lon1 = box or (0, 0, 0, 0)
    inside = block[:, :, lat0:lat1, lon0:lon1]
    from_zero = bool(leads.size) and bool(np.array_equal(leads, np.arange(leads.size)))
    values = np.empty((block.shape[0], leads.size, lat1 - lat0, lon1 - lon0))
    values[...] = inside[:, : leads.size] if from_zero else inside[:, leads]
    return values.reshape(block.shape[0], leads.size, -1)


async def read_tile(job: TileJob, source: FieldSource | None = None) -> dict[str, npt.NDArray[np.float32]]:
    """Every field of the tile, their reads in flight together (``source``: the process's opening
    of the job's pinned source, opened on first use)."""
    if source is None:
        async for attempt in retrying_async(TILE_READ_RETRY, f"open {job.source.source_id}"):
            with attempt:
                source = await opened(job.source)
    assert source is not None
    blocks = await asyncio.gather(*(read_block(source, name, job) for name in job.fields))
    return dict(zip(job.fields, blocks, strict=True))


async def run_tile(job: TileJob) -> TileResult:
    """Read the tile's fields (each needed chunk once) and process them on a thread (numpy
    releases the GIL; the loop goes on reading other tiles meanwhile)."""
    return await asyncio.to_thread(process_block, await read_tile(job), job)
