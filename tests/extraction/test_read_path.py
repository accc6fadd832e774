"""The in-process read path's pieces: shared shard-index reads, the byte budget, task batches, progress."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import zarr
from zarr.core.buffer import default_buffer_prototype
from zarr.storage import MemoryStore

from extraction.executor import TILES_PER_TASK, _ByteBudget, batches
from extraction.progress import TileProgress
from extraction.source_io import SharedIndexReads, decode_durations, decode_times, run


class _Counting(MemoryStore):
    def __init__(self, store_dict: Any = None, *, read_only: bool = False) -> None:
        super().__init__(store_dict, read_only=read_only)
        self.ranged = 0

    async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Any:
        if byte_range is not None:
            self.ranged += 1
        await asyncio.sleep(0)  # concurrent readers overlap here
        return await super().get(key, prototype, byte_range)


def test_a_shards_index_is_fetched_once_however_many_reads_need_it() -> None:
    written = MemoryStore()
    zarr.create_array(written, name="x", data=np.arange(64, dtype=np.float32).reshape(8, 8), chunks=(2, 2),
                      shards=(8, 8))  # fmt: skip
    base = _Counting(written._store_dict, read_only=True)  # read-only, as every source's store is
    shared = SharedIndexReads(base)

    async def read_all() -> list[Any]:
        array = await zarr.api.asynchronous.open_array(store=shared, path="x", mode="r")
        return list(await asyncio.gather(*(array.getitem((slice(i, i + 2), slice(0, 2))) for i in range(0, 8, 2))))

    base.ranged = 0
    blocks = run(read_all())
    assert [np.asarray(block)[0, 0] for block in blocks] == [0, 16, 32, 48]
    assert shared.index_reads == 1  # one index range kept; chunk ranges go through get_ranges
    prototype = default_buffer_prototype()
    before = base.ranged
    run(shared.get("x/c/0/0", prototype, next(iter(shared._ranges))[1]))
    assert base.ranged == before  # served from the kept read


def test_the_byte_budget_lets_one_oversized_holder_in_alone_and_the_rest_in_turn() -> None:
    async def scenario() -> list[str]:
        budget = _ByteBudget(10)
        order: list[str] = []

        async def hold(name: str, amount: int) -> None:
            async with budget.hold(amount):
                order.append(f"+{name}")
                await asyncio.sleep(0)
                assert budget.used <= 10 or budget.used == amount
                order.append(f"-{name}")

        await asyncio.gather(hold("big", 25), hold("a", 6), hold("b", 6))
        return order

    order = run(scenario())  # on zarr's I/O loop, as in the pipeline (this thread may hold a running loop)
    assert order[:2] == ["+big", "-big"] and sorted(order[2:]) == ["+a", "+b", "-a", "-b"]
    assert order.index("-a") < order.index("+b")  # 6 + 6 > 10: b waits for a


def test_cluster_tasks_are_consecutive_tiles_in_batches() -> None:
    jobs: list[Any] = list(range(100))
    split = batches(jobs, threads=2)
    assert [job for batch in split for job in batch] == jobs
    assert max(map(len, split)) == TILES_PER_TASK
    assert batches(jobs[:5], threads=4) == [[0], [1], [2], [3], [4]]  # few tiles: one per task
    assert batches([], threads=1) == []


def test_progress_counts_tiles_per_source_without_a_terminal() -> None:
    progress = TileProgress(["gefs", "ifs"], [4, 2], show=False)
    progress.done(0, 2)
    progress.done(1)
    text = progress.summary(progress.started + 10)
    assert text.startswith("gefs 2/4, ifs 1/2 — 50% in 10 s, about 10 s left")
    progress.close()


def test_cf_times_and_durations_are_decoded() -> None:
    times = decode_times(np.array([0, 6]), {"units": "hours since 2026-11-30 00:00:00"})
    assert [t.isoformat() for t in times] == ["2026-11-30T00:00:00+00:00", "2026-11-30T06:00:00+00:00"]
    durations = decode_durations(np.array([1.0, np.nan]), {"units": "hours"})
    assert durations[0] == 3600.0 and np.isnan(durations[1])
