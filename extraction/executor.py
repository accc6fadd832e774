"""Running tile jobs: in this process on zarr's I/O loop, or as tasks on ``dask.distributed``.

``--scheduler`` values: ``synchronous`` (this process, no Dask), ``threads`` (an in-process
LocalCluster), ``local`` (a multi-process LocalCluster) or a scheduler address such as
``tcp://10.0.0.5:8786`` (a cluster of ``dask scheduler`` / ``dask worker`` processes, Coiled,
dask-cloudprovider, Dask Gateway …). Without ``--scheduler``, ``DASK_SCHEDULER_ADDRESS`` is used if
set; otherwise ``auto``: this process, which reads every tile of the run with all requests in
flight (bounded by ``READ_BUDGET_BYTES`` of decoded blocks) — a cluster on the same machine adds
its start-up and copies of every result and reads no faster (docs/performance.md).

In this process and on each worker alike, tiles are read by ``extraction.tiles.run_tile`` on
zarr's I/O loop, as many at once as the budget allows; a worker's tasks are batches of tiles
(``batches``), so one task keeps many requests in flight and shares its shards' indexes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from extraction.progress import TileProgress
from extraction.source_io import submit
from extraction.tiles import TileJob, TileResult, run_tile

log = logging.getLogger(__name__)
Outcome = TileResult | BaseException
READ_BUDGET_BYTES = 768 * 2**20
"""Decoded field blocks held at once per process (reads wait beyond it; a tile larger than the
budget is read alone). Bounds memory whatever the run's size: a GEFS tile is 5 × 6.5 MB, an
IFS ENS tile 5 × 17.8 MB."""
TILES_PER_TASK = 8
TASKS_PER_THREAD = 4


def resolve_scheduler(value: str | None) -> str:
    """The scheduler to use: the given value, else DASK_SCHEDULER_ADDRESS, else this process."""
    chosen = value or os.environ.get("DASK_SCHEDULER_ADDRESS") or "auto"
    return "synchronous" if chosen == "auto" else chosen


@contextlib.contextmanager
def dask_client(scheduler: str) -> Iterator[Any]:
    """A distributed Client for ``scheduler`` (None for ``synchronous``), closed afterwards; its
    dashboard link, if it has one, is logged."""
    if scheduler == "synchronous":
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler in ("local", "threads"):
        processes = scheduler == "local"
        workers = max(1, min(4, os.cpu_count() or 1)) if processes else 1
        threads = 1 if processes else max(1, min(4, os.cpu_count() or 1))
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=threads, processes=processes, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    with Client(scheduler) as client:
        _log_cluster(client)
        yield client


def _log_cluster(client: Any) -> None:
    workers = client.scheduler_info().get("workers", {})
    threads = sum(int(worker.get("nthreads", 1)) for worker in workers.values())
    link = client.dashboard_link if _has_dashboard(client) else "none"
    log.info("Dask cluster %s: %d workers, %d threads; dashboard %s", client.scheduler.address, len(workers),
             threads, link)  # fmt: skip


def _has_dashboard(client: Any) -> bool:
    services = client.scheduler_info().get("services", {})
    return "dashboard" in services


def execute_groups(
    groups: Sequence[Sequence[TileJob]],
    client: Any = None,
    progress: TileProgress | None = None,
) -> Iterator[list[Outcome]]:
    """Run every job of every group (a group: one source's tiles); yield each group's outcomes
    (its TileResults, or the exception a job raised, in job order) as soon as that group is
    done, groups in order, so the caller works on one source's results (e.g. encodes them)
    while the next source's tiles are read. Stopping early cancels the tiles not yet read."""
    tracker = progress or TileProgress([str(i) for i in range(len(groups))], [len(g) for g in groups], show=False)
    if client is None:
        yield from _in_process(groups, tracker)
    else:
        yield from _on_cluster(groups, client, tracker)
    tracker.close()


def _in_process(groups: Sequence[Sequence[TileJob]], progress: TileProgress) -> Iterator[list[Outcome]]:
    finished: Finished = queue.SimpleQueue()
    jobs = [(g, i, job) for g, group in enumerate(groups) for i, job in enumerate(group)]
    reading = submit(_read_all(jobs, finished))
    outcomes: list[list[Outcome | None]] = [[None] * len(group) for group in groups]
    missing = [len(group) for group in groups]
    try:
        for g in range(len(groups)):
            while missing[g]:
                try:
                    group, index, outcome = finished.get(timeout=0.5)
                except queue.Empty:
                    if reading.done():
                        reading.result()  # re-raises what broke the reader itself
                    continue
                outcomes[group][index] = outcome
                missing[group] -= 1
                progress.done(group)
            yield [outcome for outcome in outcomes[g] if outcome is not None]  # every one is set
    finally:
        reading.cancel()


Finished = queue.SimpleQueue[tuple[int, int, Outcome]]  # (group, job index, outcome) as each tile is done


async def _read_all(jobs: list[tuple[int, int, TileJob]], finished: Finished) -> None:
    async def one(group: int, index: int, job: TileJob) -> None:
        finished.put((group, index, await _outcome(job)))

    await asyncio.gather(*(one(*item) for item in jobs))


class _ByteBudget:
    """At most ``limit`` bytes held at once (one holder may exceed it alone); waiters in turn."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def hold(self, amount: int) -> AsyncIterator[None]:
        async with self.changed:
            await self.changed.wait_for(lambda: self.used == 0 or self.used + amount <= self.limit)
            self.used += amount
        try:
            yield
        finally:
            async with self.changed:
                self.used -= amount
                self.changed.notify_all()


_BUDGET: list[_ByteBudget] = []  # the process's budget, created on zarr's loop


async def _outcome(job: TileJob) -> Outcome:
    if not _BUDGET:
        _BUDGET.append(_ByteBudget(READ_BUDGET_BYTES))
    try:
        async with _BUDGET[0].hold(job.block_bytes):
            return await run_tile(job)
    except Exception as error:  # noqa: BLE001 (recorded per tile: the source fails, the run goes on)
        return error


def run_tiles(jobs: Sequence[TileJob]) -> list[Outcome]:
    """A cluster task: read and process a batch of tiles, all in flight within the worker's
    budget; each outcome is the tile's result or the exception it raised (job order)."""
    from extraction.source_io import run

    async def batch() -> list[Outcome]:
        return list(await asyncio.gather(*(_outcome(job) for job in jobs)))

    return run(batch())


def batches(jobs: Sequence[TileJob], threads: int) -> list[list[TileJob]]:
    """Consecutive tiles (plan order: neighbours, mostly of one shard) in tasks of at most
    TILES_PER_TASK, at least TASKS_PER_THREAD tasks per worker thread when there are tiles enough."""
    size = max(1, min(TILES_PER_TASK, len(jobs) // max(1, threads * TASKS_PER_THREAD)))
    return [list(jobs[start : start + size]) for start in range(0, len(jobs), size)]


def _on_cluster(groups: Sequence[Sequence[TileJob]], client: Any, progress: TileProgress) -> Iterator[list[Outcome]]:
    from distributed import as_completed

    threads = max(1, sum(client.nthreads().values()))
    tasks: list[list[tuple[Any, int]]] = []
    for group in groups:
        split = batches(group, threads)
        tasks.append(list(zip(client.map(run_tiles, split, pure=False), map(len, split), strict=True)))
    group_of = {future.key: g for g, items in enumerate(tasks) for future, _ in items}
    size_of = {future.key: size for items in tasks for future, size in items}
    left = [len(items) for items in tasks]
    completed = as_completed([future for items in tasks for future, _ in items])
    for g, items in enumerate(tasks):
        while left[g]:
            future = next(completed)
            left[group_of[future.key]] -= 1
            progress.done(group_of[future.key], size_of[future.key])
        yield [outcome for future, size in items for outcome in _task_outcomes(future, size)]


def _task_outcomes(future: Any, size: int) -> list[Outcome]:
    try:
        outcomes: list[Outcome] = future.result()
    except Exception as error:  # noqa: BLE001 (a lost worker: every tile of the task failed)
        return [error] * size
    return outcomes
