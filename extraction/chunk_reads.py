"""A tile's block of one field read chunk by chunk, decoded off zarr's I/O loop.

zarr's sharded read of a selection decodes each inner chunk into a buffer of its own, copies it
into a shard-sized buffer, then copies that into the result: three fresh buffers per byte, and
both copies on the I/O loop's thread, which holds up every other request meanwhile. For the
layout dynamical.org's stores use (a shard's index at its end, inner chunks of little-endian
bytes compressed with Blosc) ``read_tile_block`` reads the shard index and the needed inner
chunks' byte ranges through the same store (so ``SharedIndexReads`` still fetches each index
once), and on a worker thread decompresses each chunk into a reused scratch buffer and copies
its part into the block: one fresh buffer (the block) and no numpy work on the loop. Anything
else — another codec chain, an index at the start, a selection spanning shards — returns None
and the caller reads it through zarr (``extraction.tiles.read_block``).

The layout followed is the Zarr v3 sharding codec's: the index is ``chunks per shard × (offset,
length)`` as little-endian uint64 (an optional crc32c of it after), ``2**64 − 1`` twice for a
chunk not written; a missing shard or chunk reads as the array's fill value.
"""

from __future__ import annotations

import asyncio
import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

MISSING = np.uint64(2**64 - 1)
_SCRATCH = threading.local()  # per worker thread: the buffer chunks are decompressed into


@dataclass(frozen=True, slots=True)
class ShardLayout:
    """What reading a sharded array chunk by chunk needs from its metadata."""

    shard: tuple[int, ...]
    inner: tuple[int, ...]
    index_bytes: int
    fill_value: float
    max_gap: int  # neighbouring chunks this close come in one request (zarr's setting of the array)
    max_request: int


def shard_layout(array: Any) -> ShardLayout | None:
    """The array's layout if it is the one read here (see the module docstring), else None."""
    from zarr.codecs import BloscCodec, BytesCodec, Crc32cCodec, ShardingCodec

    codecs = array.metadata.codecs
    if len(codecs) != 1 or not isinstance(codecs[0], ShardingCodec) or array.dtype != np.dtype("<f4"):
        return None
    sharding = codecs[0]
    inner_ok = [type(codec) for codec in sharding.codecs] == [BytesCodec, BloscCodec]
    little = inner_ok and getattr(sharding.codecs[0], "endian", None) in (None, "little")
    if not little or sharding.index_location != "end":
        return None
    index_types = [type(codec) for codec in sharding.index_codecs]
    if index_types not in ([BytesCodec], [BytesCodec, Crc32cCodec]):
        return None
    inner = tuple(int(size) for size in sharding.chunk_shape)
    shard = tuple(int(size) for size in array.shards)
    chunks = math.prod(s // i for s, i in zip(shard, inner, strict=True))
    index_bytes = chunks * 16 + (4 if len(index_types) == 2 else 0)
    config = array.config
    gap, most = config.sharding_coalesce_max_gap_bytes, config.sharding_coalesce_max_bytes
    return ShardLayout(shard, inner, index_bytes, float(array.metadata.fill_value), gap, most)


async def read_tile_block(
    source: Any, array: Any, layout: ShardLayout, where: tuple[slice, ...]
) -> npt.NDArray[np.float32] | None:
    """``array[where]`` (one slice per dimension, steps of 1) in the array's dimension order, or
    None when the selection spans more than one shard."""
    from zarr.abc.store import RangeByteRequest, SuffixByteRequest
    from zarr.core.buffer import default_buffer_prototype

    starts = [part.start for part in where]
    shard_at = tuple(start // size for start, size in zip(starts, layout.shard, strict=True))
    if any((part.stop - 1) // size != at for part, size, at in zip(where, layout.shard, shard_at, strict=True)):
        return None
    key = f"{array.store_path.path}/{array.metadata.encode_chunk_key(shard_at)}".lstrip("/")
    prototype = default_buffer_prototype()
    index = await source.store.get(key, prototype, SuffixByteRequest(layout.index_bytes))
    shape = tuple(part.stop - part.start for part in where)
    if index is None:
        return np.full(shape, layout.fill_value, dtype=np.float32)
    chunk_index = _needed_chunks(layout, where, shard_at, index.as_numpy_array())
    wanted = sorted({(int(o), int(o + n)) for _, o, n in chunk_index if o != MISSING})
    ranges = _merged(wanted, layout.max_gap, layout.max_request)
    fetched = await asyncio.gather(
        *(source.store.get_uncached(key, prototype, RangeByteRequest(start, end)) for start, end in ranges)
    )
    if any(found is None for found in fetched):
        raise FileNotFoundError(f"{key} changed while it was read")
    blobs = {start: found.as_numpy_array() for (start, _), found in zip(ranges, fetched, strict=True)}
    return await asyncio.to_thread(_assemble, layout, where, shape, chunk_index, blobs)


def _needed_chunks(
    layout: ShardLayout, where: tuple[slice, ...], shard_at: tuple[int, ...], index: npt.NDArray[np.uint8]
) -> list[tuple[tuple[int, ...], np.uint64, np.uint64]]:
    """(inner chunk position in the array, byte offset, byte length) of every chunk ``where`` touches."""
    per_shard = tuple(s // i for s, i in zip(layout.shard, layout.inner, strict=True))
    table = np.frombuffer(index.tobytes()[: math.prod(per_shard) * 16], dtype="<u8").reshape((*per_shard, 2))
    ranges = [
        range(part.start // size, (part.stop - 1) // size + 1) for part, size in zip(where, layout.inner, strict=True)
    ]
    found = []
    for position in np.ndindex(*(len(r) for r in ranges)):
        chunk = tuple(r[i] for r, i in zip(ranges, position, strict=True))
        local = tuple(c - at * p for c, at, p in zip(chunk, shard_at, per_shard, strict=True))
        offset, length = table[local]
        found.append((chunk, offset, length))
    return found


def _merged(ranges: list[tuple[int, int]], max_gap: int, max_request: int) -> list[tuple[int, int]]:
    """Sorted byte ranges joined when at most ``max_gap`` apart and the request stays within
    ``max_request`` bytes (as zarr coalesces a shard's chunks): fewer requests, a few more bytes."""
    merged: list[tuple[int, int]] = []
    for start, end in ranges:
        if merged and start - merged[-1][1] <= max_gap and end - merged[-1][0] <= max_request:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _assemble(
    layout: ShardLayout,
    where: tuple[slice, ...],
    shape: tuple[int, ...],
    chunk_index: list[tuple[tuple[int, ...], np.uint64, np.uint64]],
    blobs: dict[int, npt.NDArray[np.uint8]],
) -> npt.NDArray[np.float32]:
    """The block from its chunks (on a worker thread: Blosc and numpy release the GIL)."""
    from numcodecs.blosc import decompress

    block = np.empty(shape, dtype=np.float32)
    scratch = _scratch(math.prod(layout.inner))
    starts = sorted(blobs)
    for chunk, offset, length in chunk_index:
        origin = [c * size for c, size in zip(chunk, layout.inner, strict=True)]
        inside = tuple(
            slice(max(part.start, o) - o, min(part.stop, o + size) - o)
            for part, o, size in zip(where, origin, layout.inner, strict=True)
        )
        into = tuple(
            slice(o + s.start - part.start, o + s.stop - part.start)
            for part, o, s in zip(where, origin, inside, strict=True)
        )
        if offset == MISSING:
            block[into] = layout.fill_value
            continue
        first = starts[np.searchsorted(starts, int(offset), side="right") - 1]
        data = blobs[first][int(offset) - first : int(offset + length) - first]
        decompress(data, scratch)
        block[into] = scratch.reshape(layout.inner)[inside]
    return block


def _scratch(values: int) -> npt.NDArray[np.float32]:
    held = getattr(_SCRATCH, "buffer", None)
    if held is None or held.size < values:
        held = _SCRATCH.buffer = np.empty(values, dtype=np.float32)
    return held[:values]
