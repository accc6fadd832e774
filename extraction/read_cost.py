"""What reading a raw source costs: requests and bytes, counted under the Zarr store.

A Zarr chunk is the smallest unit a store hands out and a codec decodes. One point's series (all
members × all leads at one grid cell) lies in every inner chunk along lead time at that cell, and
each of those chunks is fetched and decompressed whole, so a point costs the bytes of whole
chunks however few values it keeps. Points that share a chunk are cheapest read together: the
pipeline plans *tiles* (one latitude chunk × one longitude chunk, ``extraction.plan``) and reads
each tile once for every point in it (``extraction.tiles``). ``compare_reads`` measures both
ways on any registry source; notebook 03 shows it.

Counting sits under xarray and Zarr (``CountingStore`` wraps the store ``open_source`` opens),
so it sees what a remote store would be asked for: one request per GET or byte-range GET, and
the bytes returned. Sharded arrays add a request for the shard index.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from zarr.abc.store import ByteRequest
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.storage import WrapperStore

from extraction.plan import INIT_DIM, LAT_DIM, LON_DIM, choose_init, grid_spec, inner_chunks, map_points, plan_tiles
from extraction.sources import open_source
from forecast_core.grid import GridCell, nearest_cell
from forecast_core.points import Point
from forecast_core.registry import SourceEntry


class CountingStore(WrapperStore[Any]):
    """A Zarr store that counts the read requests made through it and the bytes they returned.

    One request per ``get``, per key range of ``get_partial_values`` and per batch ``get_ranges``
    yields (the wrapped store's own coalescing: one batch per underlying I/O). Synchronous I/O is
    declined so that every read takes these counted paths."""

    def __init__(self, store: Any) -> None:
        super().__init__(store)
        self.requests = 0
        self.bytes_read = 0

    def reset(self) -> None:
        self.requests = self.bytes_read = 0

    @property
    def _supports_sync_io(self) -> bool:
        return False

    async def get(self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None) -> Buffer | None:
        found = await self._store.get(key, prototype, byte_range)
        self.requests += 1
        self.bytes_read += len(found) if found is not None else 0
        return found

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        ranges = list(key_ranges)
        found = await self._store.get_partial_values(prototype, ranges)
        self.requests += len(ranges)
        self.bytes_read += sum(len(item) for item in found if item is not None)
        return found

    async def get_ranges(
        self, key: str, byte_ranges: Sequence[ByteRequest | None], *, prototype: BufferPrototype, **options: Any
    ) -> AsyncIterator[Sequence[tuple[int, Buffer | None]]]:
        async for batch in super().get_ranges(key, byte_ranges, prototype=prototype, **options):
            self.requests += 1
            self.bytes_read += sum(len(item) for _, item in batch if item is not None)
            yield batch


@dataclass(frozen=True, slots=True)
class ReadCost:
    """Requests and bytes one or more reads cost, and the bytes of the values they kept."""

    requests: int
    bytes_read: int
    values_bytes: int
    seconds: float

    @property
    def amplification(self) -> float:
        """Bytes read per byte kept (compressed bytes read ÷ decoded bytes of the wanted values)."""
        return self.bytes_read / self.values_bytes if self.values_bytes else float("nan")


class CountedSource:
    """A registry source opened through a ``CountingStore`` (lazy: nothing read until asked)."""

    def __init__(self, entry: SourceEntry) -> None:
        self.entry = entry
        self.counter: CountingStore | None = None
        self.dataset = open_source(entry, wrap=self._wrap)

    def _wrap(self, store: Any) -> CountingStore:
        self.counter = CountingStore(store)
        return self.counter

    def read(self, variable: str, **selection: Any) -> tuple[np.ndarray, ReadCost]:
        """``variable``'s values at the index ``selection`` (no coordinates), and what they cost."""
        assert self.counter is not None
        self.counter.reset()
        started = time.perf_counter()
        values = np.asarray(self.dataset[variable].variable.isel(selection).values)
        cost = ReadCost(self.counter.requests, self.counter.bytes_read, values.nbytes, time.perf_counter() - started)
        return values, cost

    def read_point(self, variable: str, point: Point) -> tuple[xr.DataArray, ReadCost, GridCell]:
        """Every member and lead of the newest ingested init at ``point``'s nearest grid cell (the
        pipeline's own rules: ``choose_init``, ``nearest_cell``), what reading it cost, and the cell."""
        cell = nearest_cell(grid_spec(self.dataset), point.latitude, point.longitude)
        where = {INIT_DIM: choose_init(self.dataset).index, LAT_DIM: cell.latitude_index, LON_DIM: cell.longitude_index}
        values, cost = self.read(variable, **where)
        return self.dataset[variable].isel(where).copy(data=values), cost, cell


def chunk_layout(array: xr.DataArray) -> pd.DataFrame:
    """Per dimension of a Zarr-backed array: its length, inner chunk, shard and chunk count."""
    chunks = inner_chunks(array.to_dataset(name="_"), "_")
    shards = array.encoding.get("shards") or [None] * array.ndim
    rows = [
        {
            "dimension": dim,
            "length": int(array.sizes[dim]),
            "inner_chunk": chunks[str(dim)],
            "shard": shard,
            "chunks": int(np.ceil(array.sizes[dim] / chunks[str(dim)])),
        }
        for dim, shard in zip(array.dims, shards, strict=True)
    ]
    return pd.DataFrame(rows)


def _total(costs: Sequence[ReadCost]) -> ReadCost:
    return ReadCost(
        sum(cost.requests for cost in costs),
        sum(cost.bytes_read for cost in costs),
        sum(cost.values_bytes for cost in costs),
        sum(cost.seconds for cost in costs),
    )


def compare_reads(source: CountedSource, variable: str, points: Sequence[Point]) -> pd.DataFrame:
    """Reading ``points``' series of the newest ingested init one point at a time, versus the
    pipeline's way: each chunk tile holding a point read whole, once. ``values_bytes`` counts the
    points' values only (the tiles' other cells are read but not kept)."""
    dataset = source.dataset
    grid = grid_spec(dataset)
    init = choose_init(dataset).index
    mapped, outside = map_points(grid, points)
    if outside:
        raise ValueError(f"outside the grid: {[point.point_name for point, _ in outside]}")
    cells = [{LAT_DIM: item.cell.latitude_index, LON_DIM: item.cell.longitude_index} for item in mapped]
    one_by_one = [source.read(variable, **{INIT_DIM: init, **cell})[1] for cell in cells]
    tiles = plan_tiles(mapped, None, inner_chunks(dataset, variable), grid)
    by_tile = []
    for tile in tiles:
        box = {LAT_DIM: slice(tile.lat_start, tile.lat_stop), LON_DIM: slice(tile.lon_start, tile.lon_stop)}
        _, cost = source.read(variable, **{INIT_DIM: init, **box})
        kept = one_by_one[0].values_bytes * len(tile.point_positions)
        by_tile.append(ReadCost(cost.requests, cost.bytes_read, kept, cost.seconds))
    rows = []
    for strategy, reads, total in (
        ("one point at a time", len(one_by_one), _total(one_by_one)),
        ("whole chunk tiles (the pipeline)", len(by_tile), _total(by_tile)),
    ):
        rows.append(
            {
                "strategy": strategy,
                "reads": reads,
                "requests": total.requests,
                "bytes_read": total.bytes_read,
                "values_bytes": total.values_bytes,
                "amplification": round(total.amplification, 1),
                "seconds": round(total.seconds, 3),
            }
        )
    return pd.DataFrame(rows)
