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
from typing import Any

from tqdm import tqdm

from extraction.tiles import TileJob, TileResult, run_tile

log = logging.getLogger(__name__)
Outcome = TileResult | BaseException


SMALL_RUN_TILES = 12


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


def execute(
    jobs: Sequence[TileJob],
    client: Any = None,
    progress: bool | None = None,
    task: Callable[[TileJob], TileResult] = run_tile,
) -> list[Outcome]:
    """Run every job; each outcome is its TileResult or the exception it raised (same order)."""
    show = sys.stderr.isatty() if progress is None else progress
    outcomes: list[Outcome | None] = [None] * len(jobs)
    with _progress(len(jobs), show) as bar:
        if client is None:
            for index, job in enumerate(jobs):
                try:
                    outcomes[index] = task(job)
                except Exception as error:  # noqa: BLE001 (recorded per source by the caller)
                    outcomes[index] = error
                bar.update(1)
        else:
            from distributed import as_completed

            futures = client.map(task, list(jobs), pure=False)
            position = {future.key: index for index, future in enumerate(futures)}
            for future in as_completed(futures):
                index = position[future.key]
                try:
                    outcomes[index] = future.result()
                except Exception as error:  # noqa: BLE001
                    outcomes[index] = error
                bar.update(1)
    return [outcome if outcome is not None else RuntimeError("job did not run") for outcome in outcomes]
