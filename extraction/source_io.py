"""Reading a source through Zarr's async API: the pipeline's only way into a forecast store.

Planning needs a source's coordinates and its fields' metadata; ``read_metadata`` asks for all of
them in one gather (one wave of round trips, not one per coordinate). Tiles need blocks of raw
fields; ``read_block`` reads one field of one tile with a basic selection, and every block of a
run can be in flight at once. Reads go through ``SharedIndexReads``, so a shard's index is
fetched once per process however many tiles and concurrent reads need it.

Every coroutine runs on zarr's own I/O loop (``run``: one loop per process, on its own thread),
so the stores and arrays opened once serve every thread of the process — planning threads and
Dask worker threads alike. xarray is not involved: the fields are plain arrays indexed by
position, and the few coordinates the plan needs are decoded here (CF time units).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import zarr.api.asynchronous
from zarr.abc.store import ByteRequest
from zarr.core.buffer import Buffer, BufferPrototype
from zarr.core.sync import sync
from zarr.storage import WrapperStore

from extraction.plan import FieldInfo, SourceMetadata
from extraction.sources import SourceUnavailable, icechunk_storage, resolve_stac, zarr_storage_options
from forecast_core.registry import IcechunkLocation, SourceEntry, StacLocation, ZarrLocation

INIT, LEAD, MEMBER, LAT, LON = "init_time", "lead_time", "ensemble_member", "latitude", "longitude"
INGESTED, EXPECTED = "ingested_forecast_length", "expected_forecast_length"
_TIME_UNITS = {"days": 86400.0, "hours": 3600.0, "minutes": 60.0, "seconds": 1.0, "milliseconds": 1e-3,
               "microseconds": 1e-6}  # fmt: skip
_SINCE = re.compile(r"^\s*(\w+)\s+since\s+(.+?)\s*$")


def loop() -> asyncio.AbstractEventLoop:
    """zarr's I/O loop (one per process, running on its own thread; started on first use)."""
    from zarr.core.sync import _get_loop  # zarr's own sync API runs everything on it

    return _get_loop()


def submit[T](coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Start ``coroutine`` on zarr's I/O loop; cancelling the future cancels it."""
    return asyncio.run_coroutine_threadsafe(coroutine, loop())


def run[T](coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on zarr's I/O loop and wait for it (from any thread but that loop's)."""
    return sync(coroutine)


class SharedIndexReads(WrapperStore[Any]):
    """A read-only store whose byte-range ``get``\\ s — in a sharded read, the shard indexes (the
    chunks' byte ranges go through ``get_ranges``) — are fetched once per key and range and kept:
    every concurrent and later reader of the shard shares the first one's request.

    zarr's sharding codec reads the index again on every call, and zarr's own
    ``experimental.CacheStore`` lets concurrent misses each fetch it; with every tile of a run in
    flight at once both would read a shard's index once per tile and field. A failed read is not
    kept, so a retry fetches it again. Sync I/O is declined so every read takes this path."""

    def __init__(self, store: Any) -> None:
        super().__init__(store)
        self._ranges: dict[tuple[str, ByteRequest], asyncio.Future[Buffer | None]] = {}

    @property
    def _supports_sync_io(self) -> bool:
        return False

    def _with_store(self, store: Any) -> SharedIndexReads:
        return type(self)(store)

    async def get(self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None) -> Buffer | None:
        if byte_range is None:
            return await self._store.get(key, prototype, None)
        entry = (key, byte_range)
        found = self._ranges.get(entry)
        if found is None:
            found = asyncio.ensure_future(self._store.get(key, prototype, byte_range))
            self._ranges[entry] = found
            found.add_done_callback(lambda done: self._forget_failed(entry, done))
        return await asyncio.shield(found)

    async def get_uncached(self, key: str, prototype: BufferPrototype, byte_range: ByteRequest) -> Buffer | None:
        """A byte range read once and not kept (chunk data, read by ``extraction.chunk_reads``)."""
        found: Buffer | None = await self._store.get(key, prototype, byte_range)
        return found

    def _forget_failed(self, entry: tuple[str, ByteRequest], done: asyncio.Future[Buffer | None]) -> None:
        if done.cancelled() or done.exception() is not None:
            self._ranges.pop(entry, None)

    @property
    def index_reads(self) -> int:
        """Byte ranges fetched (and kept) so far."""
        return len(self._ranges)


@dataclass(slots=True)
class OpenedSource:
    """A source's Zarr root group, opened on zarr's loop, and the arrays opened from it."""

    group: Any
    store: SharedIndexReads
    arrays: dict[str, Any]

    async def array(self, name: str) -> Any:
        """The named array (KeyError when the store has none)."""
        if name not in self.arrays:
            self.arrays[name] = await self.group.getitem(name)
        return self.arrays[name]


async def _zarr_store(location: ZarrLocation) -> Any:
    from zarr.storage import FsspecStore, LocalStore

    url = location.url
    if "://" in url and not url.startswith("file://"):
        return FsspecStore.from_url(url, storage_options=zarr_storage_options(location), read_only=True)
    return LocalStore(url.removeprefix("file://"), read_only=True)


async def _open(entry: SourceEntry) -> tuple[OpenedSource, SourceEntry, str | None]:
    location = entry.location
    if isinstance(location, StacLocation):
        location = await asyncio.to_thread(resolve_stac, location)
    snapshot: str | None = None
    if isinstance(location, IcechunkLocation):
        import icechunk

        repo = await icechunk.Repository.open_async(icechunk_storage(location))
        if location.snapshot_id:
            session = await repo.readonly_session_async(snapshot_id=location.snapshot_id)
        else:
            session = await repo.readonly_session_async(branch=location.branch)
        snapshot = str(session.snapshot_id)
        base, pinned = session.store, entry.replace(location=location.replace(snapshot_id=snapshot).model_dump())
    else:
        base, pinned = await _zarr_store(location), entry.replace(location=location.model_dump())
    store = SharedIndexReads(base)
    group = await zarr.api.asynchronous.open_group(store=store, mode="r")
    return OpenedSource(group, store, {}), pinned, snapshot


_OPENED: dict[str, asyncio.Future[OpenedSource]] = {}  # pinned entry → its opening; used on zarr's loop only


async def _open_and_pin(entry: SourceEntry) -> tuple[OpenedSource, SourceEntry, str | None]:
    opened, pinned, snapshot = await _open(entry)
    if snapshot is not None:  # this process's tile reads of the snapshot use this opening
        kept = _OPENED.setdefault(_key(pinned), asyncio.get_running_loop().create_future())
        if not kept.done():
            kept.set_result(opened)
    return opened, pinned, snapshot


def open_pinned(entry: SourceEntry) -> tuple[OpenedSource, SourceEntry, str | None]:
    """Open ``entry`` and pin it: the opened source, an entry that reopens exactly this data (the
    Icechunk snapshot read; plain Zarr as it is) and the snapshot id (None for plain Zarr).

    The opening is kept for this process's tile reads of the pinned entry (``opened``), so
    planning and reading share it. SourceUnavailable on any failure."""
    try:
        return run(_open_and_pin(entry))
    except SourceUnavailable:
        raise
    except Exception as error:
        raise _unavailable(entry, error) from error


async def opened(pinned: SourceEntry) -> OpenedSource:
    """This process's opening of a pinned source: planning's, or opened on first use (a Dask
    worker's first tile of it; concurrent first uses share one opening). SourceUnavailable on
    failure, and a later call tries again."""
    key = _key(pinned)
    found = _OPENED.get(key)
    if found is None:
        found = _OPENED[key] = asyncio.ensure_future(_open_exactly(pinned))
        found.add_done_callback(lambda done: _forget_failed(key, done))
    return await asyncio.shield(found)


async def _open_exactly(pinned: SourceEntry) -> OpenedSource:
    try:
        return (await _open(pinned))[0]
    except SourceUnavailable:
        raise
    except Exception as error:
        raise _unavailable(pinned, error) from error


def _forget_failed(key: str, done: asyncio.Future[OpenedSource]) -> None:
    if done.cancelled() or done.exception() is not None:
        _OPENED.pop(key, None)


def forget_opened() -> None:
    """Drop this process's openings (tests that rewrite a source in place)."""
    loop().call_soon_threadsafe(_OPENED.clear)


def _key(entry: SourceEntry) -> str:
    return entry.model_dump_json()


def _unavailable(entry: SourceEntry, error: BaseException) -> SourceUnavailable:
    where = getattr(entry.location, "url", getattr(entry.location, "dataset_id", "?"))
    unavailable = SourceUnavailable(f"cannot open source {entry.source_id!r} at {where}: {error}")
    unavailable.__cause__ = error
    return unavailable


async def _values(source: OpenedSource, name: str) -> tuple[npt.NDArray[Any], dict[str, Any]] | None:
    try:
        array = await source.array(name)
    except KeyError:
        return None
    return np.asarray(await array.getitem(...)), dict(array.attrs)


async def _field(source: OpenedSource, name: str) -> FieldInfo | None:
    try:
        array = await source.array(name)
    except KeyError:
        return None
    dims = tuple(str(dim) for dim in array.metadata.dimension_names)
    return FieldInfo(name, dims, tuple(array.shape), dict(zip(dims, array.chunks, strict=True)), dict(array.attrs))


async def _metadata(source: OpenedSource, fields: Sequence[str]) -> SourceMetadata:
    names = (INIT, LEAD, MEMBER, LAT, LON, INGESTED, EXPECTED)
    found = await asyncio.gather(*(_values(source, name) for name in names), *(_field(source, f) for f in fields))
    coordinates = dict(zip(names, found[: len(names)], strict=True))
    for name in (INIT, LEAD, MEMBER, LAT, LON):
        if coordinates[name] is None:
            raise KeyError(f"the store has no {name!r} coordinate")
    init, lead, member, lat, lon = (coordinates[name] for name in (INIT, LEAD, MEMBER, LAT, LON))
    assert init is not None and lead is not None and member is not None and lat is not None and lon is not None
    infos = [info for info in found[len(names) :] if isinstance(info, FieldInfo)]
    return SourceMetadata(
        init_times=decode_times(*init),
        lead_seconds=decode_durations(*lead),
        members=np.asarray(member[0], dtype=np.int16),
        latitudes=np.asarray(lat[0], dtype=np.float64),
        longitudes=np.asarray(lon[0], dtype=np.float64),
        ingested_seconds=None if coordinates[INGESTED] is None else decode_durations(*coordinates[INGESTED]),
        expected_seconds=None if coordinates[EXPECTED] is None else decode_durations(*coordinates[EXPECTED]),
        fields={info.name: info for info in infos},
    )


def read_metadata(source: OpenedSource, fields: Sequence[str]) -> SourceMetadata:
    """The source's coordinates and the metadata of those of ``fields`` it has, in one gather."""
    return run(_metadata(source, fields))


def decode_times(values: npt.NDArray[Any], attributes: dict[str, Any]) -> list[datetime]:
    """CF-encoded times (``<unit> since <date>``, UTC) as aware datetimes."""
    unit, origin = _cf_since(attributes)
    scale = _TIME_UNITS[unit]
    return [origin + timedelta(seconds=float(value) * scale) for value in np.asarray(values).ravel()]


def decode_durations(values: npt.NDArray[Any], attributes: dict[str, Any]) -> npt.NDArray[np.float64]:
    """CF-encoded durations (``units`` seconds, hours …) as float seconds; NaN stays NaN."""
    unit = str(attributes.get("units", "")).strip()
    if unit not in _TIME_UNITS:
        raise ValueError(f"duration units {unit!r} are not one of {sorted(_TIME_UNITS)}")
    return np.asarray(values, dtype=np.float64) * _TIME_UNITS[unit]


def _cf_since(attributes: dict[str, Any]) -> tuple[str, datetime]:
    units = str(attributes.get("units", ""))
    found = _SINCE.match(units)
    if not found or found[1] not in _TIME_UNITS:
        raise ValueError(f"time units {units!r} are not '<seconds|minutes|hours|days> since <date>'")
    origin = datetime.fromisoformat(found[2].replace(" ", "T", 1) if " " in found[2] else found[2])
    return found[1], origin.replace(tzinfo=UTC) if origin.tzinfo is None else origin.astimezone(UTC)
