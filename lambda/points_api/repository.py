"""The points repository contract and the pure rules every backend shares.

A repository owns the source of truth (DynamoDB, or the points file of an artifact store) and
guarantees that a name or id is created once: concurrent creates of one name give one point and
``DuplicatePoint`` for the rest. The distance rule is checked against the points the write sees.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from forecast_core.base import utc_now
from forecast_core.layout import LayoutError, check_identifier
from forecast_core.points import (
    Point,
    PointPayload,
    PointUpdate,
    PreCannedPoints,
    great_circle_km,
    make_point_id,
    name_dedupe_key,
)
from forecast_core.store import ArtifactStore
from forecast_core.swap import PROCESS_LOCK, SwapConflict, swap
from points_api.errors import DuplicatePoint, NotFound, StorageConflict

Action = Literal["create", "update", "delete"]


@dataclass(frozen=True)
class WriteResult:
    """What a write changed: the point before and after (``None`` for absent)."""

    action: Action
    before: Point | None
    after: Point | None

    @property
    def point(self) -> Point:
        point = self.after or self.before
        assert point is not None
        return point


class PointsRepository(Protocol):
    """Storage of points; writes raise ``DuplicatePoint`` / ``NotFound`` (from ``points_api.errors``)."""

    mode: Literal["aws", "embedded"]
    store_url: str

    def list_points(self) -> list[Point]: ...
    def create_point(self, payload: PointPayload) -> WriteResult: ...
    def update_point(self, point_id: str, update: PointUpdate) -> WriteResult: ...
    def delete_point(self, point_id: str) -> WriteResult: ...


def swap_document[T](store: ArtifactStore, key: str, change: Callable[[bytes | None], tuple[bytes, T]]) -> T:
    """``forecast_core.swap.swap`` of ``key`` for the API: serialised in-process on S3 (moto's
    conditional writes are not atomic; real S3's are) and answered 503 ``StorageConflict`` when
    every attempt lost the race."""
    exclusive = PROCESS_LOCK if store.is_s3 else contextlib.nullcontext()
    try:
        with exclusive:
            return swap(store, key, change)
    except SwapConflict as error:
        raise StorageConflict(str(error)) from error


def check_point_id(point_id: str) -> str:
    """``point_id`` if it can name a point; NotFound otherwise (it cannot exist)."""
    try:
        return check_identifier(point_id, "point id")
    except LayoutError:
        raise NotFound(f"no point {point_id!r}") from None


def find_conflict(
    points: list[Point],
    name: str,
    position: tuple[float, float] | None,
    distance_km: float,
    exclude_id: str | None = None,
) -> DuplicatePoint | None:
    """The duplicate error for ``name`` / ``position`` against ``points``, or None.

    The name rule wins over the distance rule; the distance rule reports the nearest point within
    ``distance_km`` (a distance of 0 or less disables it).
    """
    key = name_dedupe_key(name)
    others = [point for point in points if point.point_id != exclude_id]
    for point in others:
        if point.dedupe_key == key:
            distance = great_circle_km(point.latitude, point.longitude, *position) if position else 0.0
            return DuplicatePoint(point, "name", distance)
    if position is None or distance_km <= 0:
        return None
    nearest: tuple[float, Point] | None = None
    for point in others:
        distance = great_circle_km(point.latitude, point.longitude, *position)
        if distance <= distance_km and (nearest is None or distance < nearest[0]):
            nearest = (distance, point)
    return DuplicatePoint(nearest[1], "distance", nearest[0]) if nearest else None


def new_point(payload: PointPayload) -> Point:
    """The stored point a valid payload creates (id from name and position, times now)."""
    now = utc_now()
    return Point(
        point_id=make_point_id(payload.point_name, payload.latitude, payload.longitude),
        point_name=payload.point_name,
        latitude=payload.latitude,
        longitude=payload.longitude,
        created_by=payload.created_by,
        created_utc=now,
        updated_utc=now,
        tags=list(payload.tags),
        enabled=payload.enabled,
    )


def updated_point(point: Point, update: PointUpdate) -> Point:
    """``point`` with the fields ``update`` sets, ``updated_utc`` now (the id never changes)."""
    changes: dict[str, object] = {"updated_utc": utc_now()}
    if update.point_name is not None:
        changes["point_name"] = update.point_name
    if update.tags is not None:
        changes["tags"] = list(update.tags)
    if update.enabled is not None:
        changes["enabled"] = update.enabled
    return point.replace(**changes)


def find_point(points: list[Point], point_id: str) -> Point:
    for point in points:
        if point.point_id == point_id:
            return point
    raise NotFound(f"no point {point_id!r}")


def points_document(points: list[Point]) -> bytes:
    """The canonical ``pre_canned_points.json`` bytes for ``points`` (sorted by id)."""
    ordered = sorted(points, key=lambda point: point.point_id)
    return PreCannedPoints(generated_utc=utc_now(), points=ordered).to_json_bytes()


def parse_document(data: bytes | None) -> list[Point]:
    """The points of a ``pre_canned_points.json`` (none when the file does not exist yet)."""
    if data is None:
        return []
    return list(PreCannedPoints.model_validate_json(data).points)


def apply_create(points: list[Point], payload: PointPayload, distance_km: float) -> tuple[list[Point], WriteResult]:
    """Pure create over a full list: the new list, or DuplicatePoint."""
    conflict = find_conflict(points, payload.point_name, (payload.latitude, payload.longitude), distance_km)
    if conflict:
        raise conflict
    point = new_point(payload)
    if any(existing.point_id == point.point_id for existing in points):
        raise DuplicatePoint(find_point(points, point.point_id), "name", 0.0)
    return [*points, point], WriteResult("create", None, point)


def apply_update(
    points: list[Point], point_id: str, update: PointUpdate, distance_km: float
) -> tuple[list[Point], WriteResult]:
    """Pure update over a full list: the new list, or NotFound / DuplicatePoint (rename)."""
    before = find_point(points, point_id)
    if update.point_name is not None:
        conflict = find_conflict(points, update.point_name, None, distance_km, exclude_id=point_id)
        if conflict:
            raise conflict
    after = updated_point(before, update)
    return [after if point.point_id == point_id else point for point in points], WriteResult("update", before, after)


def apply_delete(points: list[Point], point_id: str) -> tuple[list[Point], WriteResult]:
    """Pure delete over a full list: the new list, or NotFound."""
    before = find_point(points, point_id)
    return [point for point in points if point.point_id != point_id], WriteResult("delete", before, None)
