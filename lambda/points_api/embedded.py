"""Embedded repository: the points file of an artifact store is the source of truth.

Every write is a read-modify-write of ``dashboard/config/pre_canned_points.json`` that either
commits whole or not at all, so readers always see valid JSON and no concurrent write is lost:

- local folder: an exclusive ``flock`` on ``dashboard/config/.pre_canned_points.lock`` around
  read → change → write-temp-and-rename (works across threads and processes on one machine);
- S3: the store's compare-and-swap (``forecast_core.swap``: ``put_object(IfMatch=etag)`` with
  write tokens), additionally serialised within the process because moto's condition check is
  not atomic; in memory, a process lock. Every mode writes through the same swap.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from forecast_core.layout import PRE_CANNED_POINTS_KEY
from forecast_core.points import Point, PointPayload, PointUpdate
from forecast_core.store import ArtifactNotFound, ArtifactStore
from points_api.repository import (
    WriteResult,
    apply_create,
    apply_delete,
    apply_update,
    check_point_id,
    parse_document,
    points_document,
    swap_document,
)

LOCK_NAME = ".pre_canned_points.lock"
Change = Callable[[list[Point]], tuple[list[Point], WriteResult]]


class StoreRepository:
    """PointsRepository over ``ArtifactStore`` (local folder or S3; ``memory://`` for unit tests)."""

    mode: Literal["aws", "embedded"] = "embedded"

    def __init__(self, store: ArtifactStore, dedupe_distance_km: float):
        self.store = store
        self.store_url = store.url
        self.dedupe_distance_km = dedupe_distance_km
        self._thread_lock = threading.Lock()  # flock is per open file; this covers threads of one process

    def _read(self) -> bytes | None:
        try:
            return self.store.read_bytes(PRE_CANNED_POINTS_KEY)
        except ArtifactNotFound:
            return None

    def list_points(self) -> list[Point]:
        return parse_document(self._read())

    @contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = Path(self.store.path(PRE_CANNED_POINTS_KEY)).with_name(LOCK_NAME)
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with self._thread_lock, open(lock_path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _write(self, change: Change) -> WriteResult:
        def on_bytes(data: bytes | None) -> tuple[bytes, WriteResult]:
            points, result = change(parse_document(data))
            return points_document(points), result

        exclusive = self._locked() if self.store.is_local else contextlib.nullcontext()
        with exclusive:  # locally the swap then never loses a race, however many processes write
            return swap_document(self.store, PRE_CANNED_POINTS_KEY, on_bytes)

    def create_point(self, payload: PointPayload) -> WriteResult:
        return self._write(lambda points: apply_create(points, payload, self.dedupe_distance_km))

    def update_point(self, point_id: str, update: PointUpdate) -> WriteResult:
        check_point_id(point_id)
        return self._write(lambda points: apply_update(points, point_id, update, self.dedupe_distance_km))

    def delete_point(self, point_id: str) -> WriteResult:
        check_point_id(point_id)
        return self._write(lambda points: apply_delete(points, point_id))
