"""Running tile jobs: in-process (``synchronous``) or on ``dask.distributed``.

``--scheduler`` values: ``synchronous`` (no Dask; one process, for tests and tiny runs),
``threads`` (an in-process LocalCluster), ``local`` (a multi-process LocalCluster) or a
scheduler address such as ``tcp://10.0.0.5:8786`` (Coiled, dask-cloudprovider, Dask Gateway …).
Without ``--scheduler``, ``DASK_SCHEDULER_ADDRESS`` is used if set; otherwise ``auto``: a
LocalCluster, except for runs of at most SMALL_RUN_TILES tiles, which finish in-process faster
than a cluster starts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tqdm import tqdm

from extraction.tiles import TileJob, TileResult, run_tile

log = logging.getLogger(__name__)
Outcome = TileResult | BaseException


SMALL_RUN_TILES = 12
IN_PROCESS_TILE_THREADS = 4


def resolve_scheduler(value: str | None, tile_count: int) -> str:
    """The scheduler to use: the given value, else DASK_SCHEDULER_ADDRESS, else auto (above)."""
    chosen = value or os.environ.get("DASK_SCHEDULER_ADDRESS") or "auto"
    if chosen == "auto":
        return "synchronous" if tile_count <= SMALL_RUN_TILES else "local"
    return chosen


@contextlib.contextmanager
def dask_client(scheduler: str) -> Iterator[Any]:
    """A distributed Client for ``scheduler`` (None for ``synchronous``), closed afterwards."""
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
        yield client


def _progress(total: int, enabled: bool) -> tqdm[Any]:
    return tqdm(total=total, desc="tiles", unit="tile", disable=not enabled, file=sys.stderr, leave=False)


def execute_groups(
    groups: Sequence[Sequence[TileJob]],
    client: Any = None,
    progress: bool | None = None,
    task: Callable[[TileJob], TileResult] = run_tile,
) -> Iterator[list[Outcome]]:
    """Run every job of every group; yield each group's outcomes (its TileResults, or the
    exception a job raised, in job order) as soon as that group is done, groups in order.

    In-process, IN_PROCESS_TILE_THREADS tiles are read at once on threads (a tile's reads wait
    on the network, not the CPU), every group's jobs queued at the start, so the caller works on
    one source's results (e.g. encodes them on threads) while the next source's tiles are read.
    On a cluster, all jobs are submitted at once and groups are handed over as they complete.
    """
    show = sys.stderr.isatty() if progress is None else progress
    with _progress(sum(len(group) for group in groups), show) as bar:
        if client is None:
            with ThreadPoolExecutor(max_workers=IN_PROCESS_TILE_THREADS, thread_name_prefix="tile") as pool:
                queued = [[pool.submit(task, job) for job in group] for group in groups]
                try:
                    for futures in queued:
                        outcomes: list[Outcome] = []
                        for future in futures:
                            outcomes.append(_outcome(future))
                            bar.update(1)
                        yield outcomes
                finally:  # the caller stopped early: drop the tiles not started
                    for future in (future for futures in queued for future in futures):
                        future.cancel()
            return
        from distributed import wait

        submitted = [client.map(task, list(group), pure=False) for group in groups]
        for futures in submitted:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when="FIRST_COMPLETED")
                bar.update(len(done))
            yield [_outcome(future) for future in futures]


def _outcome(future: Any) -> Outcome:
    try:
        result: TileResult = future.result()
    except Exception as error:  # noqa: BLE001
        return error
    return result


def execute(
    jobs: Sequence[TileJob],
    client: Any = None,
    progress: bool | None = None,
    task: Callable[[TileJob], TileResult] = run_tile,
) -> list[Outcome]:
    """Run every job; each outcome is its TileResult or the exception it raised (same order)."""
    (outcomes,) = execute_groups([jobs], client, progress, task)
    return outcomes
