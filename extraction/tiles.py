"""The unit of parallel work: read one chunk tile whole, derive, pick points, summarise the map.

A tile is one (latitude chunk × longitude chunk) of the store's inner chunk grid at one init:
every member and every lead of every raw field the run needs is read in one indexing operation
per field, so each needed chunk is fetched once however many points fall in it. Picking the
points' cells and the map box out of the in-memory block is plain numpy (``extraction.derive``).

``run_tile`` is what Dask runs; it needs only picklable inputs (a ``TileJob``) and keeps one open
dataset per source per worker process.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import xarray as xr

from extraction.derive import ensemble_stats, evaluate, running_total
from extraction.plan import INIT_DIM, LAT_DIM, LEAD_DIM, LON_DIM, MEMBER_DIM
from extraction.sources import open_source
from forecast_core.registry import Node, SourceEntry
from forecast_core.transient import RetryPolicy, retry_transient, retrying

log = logging.getLogger(__name__)
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


@dataclass(frozen=True, slots=True)
class TileResult:
    """Per output variable id: values at the points' cells ``(member, lead, cell)`` (job order) and map statistics."""

    points: dict[str, npt.NDArray[np.float32]]
    maps: dict[str, dict[str, npt.NDArray[np.float32]]]  # stat -> (map lead, lat, lon)


_OPEN: dict[str, xr.Dataset] = {}
_OPEN_LOCK = threading.Lock()


FIELD_READ_THREADS = 8  # every raw field of a source (5-6) in one wave


def share_dataset(pinned: SourceEntry, ds: xr.Dataset) -> None:
    """Let this process's tile jobs of ``pinned`` (a source pinned to the snapshot ``ds`` was
    opened at) read through ``ds`` instead of opening the source again."""
    with _OPEN_LOCK:
        _OPEN.setdefault(pinned.model_dump_json(), ds)


def _dataset(source: SourceEntry) -> xr.Dataset:
    """The source's dataset, opened once per process (pinned sources: same snapshot everywhere)."""
    key = source.model_dump_json()
    with _OPEN_LOCK:
        if key not in _OPEN:
            _OPEN[key] = retrying(TILE_READ_RETRY, f"open {source.source_id}")(open_source, source)
        return _OPEN[key]


@retry_transient(TILE_READ_RETRY)
def read_block(ds: xr.Dataset, name: str, job: TileJob) -> npt.NDArray[np.float32]:
    """All members and leads of one field in the tile, canonical order (member, lead, lat, lon).

    One basic (slice) selection of the zarr array, transposed in numpy afterwards: transposing
    the lazy xarray first would turn the read into zarr's much slower coordinate selection.
    """
    array = ds[name].isel(
        {
            INIT_DIM: job.init_index,
            LAT_DIM: slice(job.lat_start, job.lat_stop),
            LON_DIM: slice(job.lon_start, job.lon_stop),
        }
    )
    block = np.asarray(array.values)
    dims = [str(dim) for dim in array.dims]
    return np.transpose(block, [dims.index(dim) for dim in (MEMBER_DIM, LEAD_DIM, LAT_DIM, LON_DIM)])


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
    at every lead, and the map box at the map leads only (at every lead up to the last map lead
    when a running total needs the steps before it); then split into series and statistics."""
    rows = np.asarray(job.point_rows, dtype=np.int64)
    cols = np.asarray(job.point_cols, dtype=np.int64)
    point_cells = {name: block[:, :, rows, cols].astype(np.float64) for name, block in fields.items()}
    points = {
        name: values.astype(np.float32)
        for name, values in _derive(job.variables, point_cells, job.steps, job.ingested).items()
    }
    maps: dict[str, dict[str, npt.NDArray[np.float32]]] = {}
    if job.map_box is not None and job.map_leads:
        lat0, lat1, lon0, lon1 = job.map_box
        any_total = any(variable.total_id is not None for variable in job.variables)
        leads = np.arange(max(job.map_leads) + 1) if any_total else np.asarray(job.map_leads)
        pick = [int(np.nonzero(leads == lead)[0][0]) for lead in job.map_leads]
        map_cells = {
            name: block[:, leads, lat0:lat1, lon0:lon1].reshape(block.shape[0], leads.size, -1).astype(np.float64)
            for name, block in fields.items()
        }
        derived = _derive(job.variables, map_cells, job.steps[leads], job.ingested[:, leads])
        for output_id, series in derived.items():
            sub = series[:, pick].reshape(series.shape[0], len(pick), lat1 - lat0, lon1 - lon0)
            maps[output_id] = {name: stat.astype(np.float32) for name, stat in ensemble_stats(sub, MAP_STATS).items()}
    return TileResult(points=points, maps=maps)


def run_tile(job: TileJob) -> TileResult:
    """Read the tile's fields (each needed chunk once) and process them."""
    ds = _dataset(job.source)
    if len(job.fields) == 1:
        return process_block({job.fields[0]: read_block(ds, job.fields[0], job)}, job)
    # the fields' chunk requests overlap: each read waits on the network, not on the CPU
    with ThreadPoolExecutor(max_workers=min(len(job.fields), FIELD_READ_THREADS)) as pool:
        blocks = list(pool.map(lambda name: read_block(ds, name, job), job.fields))
    return process_block(dict(zip(job.fields, blocks, strict=True)), job)
