"""Chunk-by-chunk tile reads (``extraction.chunk_reads``) give exactly what zarr's own read gives."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec, ZstdCodec
from zarr.storage import MemoryStore

from extraction.chunk_reads import read_tile_block, shard_layout
from extraction.source_io import OpenedSource, SharedIndexReads, run


def _store() -> MemoryStore:
    written = MemoryStore()
    values = np.arange(2 * 10 * 12, dtype=np.float32).reshape(2, 10, 12)
    values[1, 4:8, 8:12] = np.nan  # an inner chunk of fill values only: not written
    zarr.create_array(written, name="blosc", data=values, chunks=(1, 4, 4), shards=(1, 8, 12),
                      compressors=BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"), fill_value=np.nan)  # fmt: skip
    zarr.create_array(written, name="zstd", data=values, chunks=(1, 4, 4), shards=(1, 8, 12),
                      compressors=ZstdCodec(), fill_value=np.nan)  # fmt: skip
    return MemoryStore(written._store_dict, read_only=True)


def _read(name: str, where: tuple[slice, ...]) -> tuple[Any, np.ndarray]:
    shared = SharedIndexReads(_store())

    async def both() -> tuple[Any, np.ndarray]:
        group = await zarr.api.asynchronous.open_group(store=shared, mode="r")
        source = OpenedSource(group, shared, {})
        array = await source.array(name)
        layout = shard_layout(array)
        ours = None if layout is None else await read_tile_block(source, array, layout, where)
        return ours, np.asarray(await array.getitem(where))

    return run(both())


@pytest.mark.parametrize(
    "where",
    [
        (slice(0, 1), slice(0, 4), slice(0, 4)),  # one inner chunk
        (slice(1, 2), slice(0, 8), slice(0, 12)),  # a whole shard, one chunk never written
        (slice(0, 1), slice(8, 10), slice(4, 12)),  # the shard at the edge, partly outside the array
        (slice(1, 2), slice(2, 7), slice(3, 9)),  # parts of several chunks
    ],
)
def test_a_tile_read_chunk_by_chunk_equals_zarrs_read(where: tuple[slice, ...]) -> None:
    ours, theirs = _read("blosc", where)
    assert ours is not None
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)  # NaN where zarr has NaN too


def test_a_selection_over_two_shards_is_left_to_zarr() -> None:
    ours, theirs = _read("blosc", (slice(0, 2), slice(0, 4), slice(0, 4)))
    assert ours is None and theirs.shape == (2, 4, 4)


def test_other_codec_chains_are_left_to_zarr() -> None:
    ours, theirs = _read("zstd", (slice(0, 1), slice(0, 4), slice(0, 4)))
    assert ours is None and theirs.shape == (1, 4, 4)
