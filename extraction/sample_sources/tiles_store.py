"""Production-scale benchmark stores: the real templates' full grid, data only in chosen chunk tiles.

A tile is one (latitude inner chunk × longitude inner chunk) of the template's grid, every member
and lead. ``write_tile_store`` writes an Icechunk repository with the template's metadata byte
for byte (one complete init, the full member count) and, for each needed raw field, synthetic
values in exactly the given tiles; every other chunk stays absent, as in a store that was never
written there. So a run over points anywhere reads what it would read from dynamical.org's
stores: the same inner chunks (GEFS 31 × 64 leads × 17 × 16 cells ≈ 2.2 MB, IFS ENS 85 × 51 ×
32 × 32 ≈ 17.8 MB), the same shard layout and codecs.

Values: ``synthetic.generate_fields`` computed at ``template_tiles`` of the tiles, each written
tile taking one of those blocks (so the bytes compress like the synthetic fields, and writing a
thousand tiles costs a few field computations). Shards are assembled in memory with zarr's own
sharding codec, a row of tiles per write, and each finished shard object is stored once.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import zarr
import zarr.storage
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

from extraction.sample_sources import synthetic
from extraction.sample_sources.templates import DatasetFacts, array_metadata
from extraction.sample_sources.writer import (
    SampleSpec,
    _icechunk_storage,
    _set_json,
    _store_variable_fields,
    grid_latitude,
    grid_longitude,
    write_coordinates,
    write_metadata,
)
from forecast_core.grid import GridSpec, LatLonBox, OutsideGrid, nearest_cell

Tile = tuple[int, int]  # (latitude chunk, longitude chunk) of the inner chunk grid
CANONICAL = ("ensemble_member", "lead_time", "latitude", "longitude")


def template_grid() -> GridSpec:
    """The 0.25° grid of both templates."""
    lat, lon = grid_latitude(), grid_longitude()
    return GridSpec(latitude_first=float(lat[0]), latitude_step=float(lat[1] - lat[0]), latitude_count=lat.size,
                    longitude_first=float(lon[0]), longitude_step=float(lon[1] - lon[0]),
                    longitude_count=lon.size)  # fmt: skip


def inner_tile_shape(dataset_id: str, field: str) -> tuple[int, int]:
    """(latitude, longitude) cells of one inner chunk of ``field``."""
    meta = array_metadata(dataset_id)[field]
    dims = list(meta["dimension_names"])
    inner = meta["codecs"][0]["configuration"]["chunk_shape"] if _is_sharded(meta) else _outer(meta)
    return int(inner[dims.index("latitude")]), int(inner[dims.index("longitude")])


def tiles_for_points(dataset_id: str, field: str, locations: Iterable[tuple[float, float]]) -> set[Tile]:
    """The tiles holding the nearest cells of ``locations`` (latitude, longitude)."""
    grid = template_grid()
    lat_len, lon_len = inner_tile_shape(dataset_id, field)
    tiles: set[Tile] = set()
    for latitude, longitude in locations:
        try:
            cell = nearest_cell(grid, latitude, longitude)
        except OutsideGrid:
            continue
        tiles.add((cell.latitude_index // lat_len, cell.longitude_index // lon_len))
    return tiles


def _is_sharded(meta: dict[str, Any]) -> bool:
    return bool(meta["codecs"]) and meta["codecs"][0]["name"] == "sharding_indexed"


def _outer(meta: dict[str, Any]) -> list[int]:
    return list(meta["chunk_grid"]["configuration"]["chunk_shape"])


def _template_blocks(
    facts: DatasetFacts, tiles: Sequence[Tile], tile_shape: tuple[int, int], init: date, members: int
) -> list[dict[str, synthetic.FloatArray]]:
    """Synthetic store-variable values (canonical order) computed at each of ``tiles``."""
    lat_all, lon_all = grid_latitude(), grid_longitude()
    blocks = []
    for index, (lat_chunk, lon_chunk) in enumerate(tiles):
        lat = lat_all[lat_chunk * tile_shape[0] :][: tile_shape[0]]
        lon = lon_all[lon_chunk * tile_shape[1] :][: tile_shape[1]]
        lat = np.concatenate([lat, lat[-1] - 0.25 * np.arange(1, tile_shape[0] - lat.size + 1)])  # pad at the pole
        grid = synthetic.FieldGrid(
            init_epoch_seconds=int(np.datetime64(init, "s").astype(np.int64)),
            lead_hours=facts.lead_hours,
            latitude=lat,
            longitude=lon,
            member_count=members,
        )
        fields = synthetic.generate_fields(grid, seed=1000 + index, day_of_year=init.timetuple().tm_yday)
        blocks.append(_store_variable_fields(facts, fields))
    return blocks


def _assemble_shard(
    name: str, meta: dict[str, Any], tiles: dict[Tile, synthetic.FloatArray], tile_shape: tuple[int, int]
) -> dict[str, bytes]:
    """The encoded objects (zarr keys → bytes) of ``tiles`` (their values) of one shard of ``name``,
    built with zarr's sharding codec in a memory store."""
    memory = zarr.storage.MemoryStore()
    _set_json(memory, f"{name}/zarr.json", meta)
    array = zarr.open_array(memory, path=name, mode="r+")
    dims = list(meta["dimension_names"])
    order = [CANONICAL.index(dim) for dim in dims[1:]]
    rows: dict[int, list[int]] = defaultdict(list)
    for lat_chunk, lon_chunk in tiles:
        rows[lat_chunk].append(lon_chunk)
    lat_count, lon_count = meta["shape"][dims.index("latitude")], meta["shape"][dims.index("longitude")]
    for lat_chunk, lon_chunks in sorted(rows.items()):
        # one basic-slice write per row of tiles: the chunks between them are NaN, so not stored
        lat0, lat1 = lat_chunk * tile_shape[0], min((lat_chunk + 1) * tile_shape[0], lat_count)
        first, last = min(lon_chunks), max(lon_chunks)
        lon0, lon1 = first * tile_shape[1], min((last + 1) * tile_shape[1], lon_count)
        sample = tiles[(lat_chunk, first)]
        values = np.full((*sample.shape[:2], lat1 - lat0, lon1 - lon0), np.nan, dtype=np.float32)
        for column in lon_chunks:
            start = (column - first) * tile_shape[1]
            values[:, :, :, start : start + tile_shape[1]] = tiles[(lat_chunk, column)][:, :, : lat1 - lat0]
        selection: tuple[int | slice, ...] = (0, *[slice(None)] * (len(dims) - 3), slice(lat0, lat1), slice(lon0, lon1))
        array[selection] = np.transpose(values, order)
    return {key: bytes(value.to_bytes()) for key, value in memory._store_dict.items() if "/c/" in key}


def write_tile_store(
    url: str,
    facts: DatasetFacts,
    tiles_by_field: dict[str, set[Tile]],
    init: date,
    *,
    endpoint_url: str | None = None,
    template_tiles: int = 4,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Create (replacing) an Icechunk repository at ``url`` with one complete init of ``facts``'
    dataset and data for each field of ``tiles_by_field`` in its tiles only."""
    import icechunk

    complete = dataclasses.replace(facts, partial_newest_lead_hours=None)
    spec = SampleSpec(facts=complete, region=LatLonBox(-90, 90, -180, 180), init_dates=(init,),
                      member_count=facts.member_count)  # fmt: skip
    if not url.startswith("s3://") and Path(url).exists():
        shutil.rmtree(url)
    repo = icechunk.Repository.create(_icechunk_storage(url, endpoint_url))
    session = repo.writable_session("main")
    write_metadata(session.store, spec)
    write_coordinates(session.store, spec)
    metadata = array_metadata(facts.dataset_id)
    shapes = {inner_tile_shape(facts.dataset_id, name) for name in tiles_by_field}
    if len(shapes) != 1:
        raise ValueError(f"{facts.dataset_id}: fields of different chunk shapes {shapes}")
    tile_shape = shapes.pop()
    every = sorted(set().union(*tiles_by_field.values()))
    blocks = _template_blocks(complete, every[:template_tiles], tile_shape, init, facts.member_count)
    slot = {tile: index % len(blocks) for index, tile in enumerate(every)}
    for name, tiles in sorted(tiles_by_field.items()):
        meta = metadata[name]
        dims = list(meta["dimension_names"])
        meta["shape"] = [1 if dim == "init_time" else length for dim, length in zip(dims, meta["shape"], strict=True)]
        ordered = sorted(tiles)
        outer = _outer(meta)
        shard_lat = outer[dims.index("latitude")] // tile_shape[0]
        shard_lon = outer[dims.index("longitude")] // tile_shape[1]
        by_shard: dict[Tile, list[Tile]] = defaultdict(list)
        for tile in ordered:
            by_shard[(tile[0] // shard_lat, tile[1] // shard_lon)].append(tile)
        field_blocks = [block[name] for block in blocks]
        for shard_tiles in by_shard.values():
            values = {tile: field_blocks[slot[tile]] for tile in shard_tiles}
            objects = _assemble_shard(name, meta, values, tile_shape)
            prototype = default_buffer_prototype()
            for key, data in objects.items():
                sync(session.store.set(key, prototype.buffer.from_bytes(data)))
        if progress:
            progress(f"{facts.source_id} {name}: {len(ordered)} tiles in {len(by_shard)} shards")
    session.commit(f"forecast-panel benchmark store: {facts.dataset_id}, {init.isoformat()}, tiles only")


def fields_needed(source_id: str) -> list[str]:
    """The raw fields the canonical variables read from ``source_id``."""
    from forecast_core import defaults
    from forecast_core.registry import node_fields

    names = {
        name
        for variable in defaults.canonical_variables().variables
        if source_id in variable.derivations
        for name in node_fields(variable.derivations[source_id])
    }
    return sorted(names)
