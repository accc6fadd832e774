"""AWS repository: DynamoDB is the source of truth; the points file is rebuilt after each write.

Table ``POINTS_TABLE_NAME`` (partition key ``pk`` (S), no sort key) holds two kinds of items,
always written together in one ``transact_write_items``:

- ``point#<point_id>``: ``kind="point"``, ``point_id``, ``point_name``, ``dedupe_key``,
  ``latitude``/``longitude`` (N), ``updated_utc`` and ``document`` (the Point's JSON);
- ``name#<dedupe_key>``: ``kind="name"``, ``point_id`` — the uniqueness guard of a name;
- ``cell#<D>#<band>:<index>``: ``kind="cell"``, ``version`` (N) — the distance guard (``geocells``).

- ``write#<token>``: ``kind="write"``, ``expires_at`` (TTL) — written by every transaction so that a
  transaction whose answer was lost is recognised as committed when it is sent again
  (``points_api.transactions``).

Creates put both with ``attribute_not_exists(pk)``, so a name or id is created once however many
writers race. Updates and deletes are conditional on the stored ``document`` being the one read
(optimistic concurrency; retried on conflict). The distance rule is checked against a consistent
scan, and the create's transaction bumps the version of the point's grid cell and requires the
neighbouring cells' versions to be those read before the scan: a create nearby that commits in
between cancels the transaction, which then re-scans and answers 409 ``distance``.

After each write ``dashboard/config/pre_canned_points.json`` is rebuilt from a consistent scan
with an S3 compare-and-swap until the file reflects the write (``rebuild_points_file``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

import boto3
from botocore.config import Config

from forecast_core.layout import PRE_CANNED_POINTS_KEY
from forecast_core.points import Point, PointPayload, PointUpdate, name_dedupe_key
from forecast_core.store import S3_RETRY_CONFIG, ArtifactStore
from points_api import geocells
from points_api.audit import AuditLog, DynamoAuditLog, StoreAuditLog
from points_api.errors import DuplicatePoint, NotFound, StorageConflict
from points_api.repository import (
    WriteResult,
    check_point_id,
    find_conflict,
    new_point,
    parse_document,
    points_document,
    updated_point,
)
from points_api.settings import ApiSettings
from points_api.transactions import transact_once

log = logging.getLogger(__name__)
WRITE_ATTEMPTS = 5
REBUILD_ATTEMPTS = 30


def point_key(point_id: str) -> str:
    return f"point#{point_id}"


def name_key(point_name: str) -> str:
    return f"name#{name_dedupe_key(point_name)}"


def _point_item(point: Point) -> dict[str, Any]:
    return {
        "pk": {"S": point_key(point.point_id)},
        "kind": {"S": "point"},
        "point_id": {"S": point.point_id},
        "point_name": {"S": point.point_name},
        "dedupe_key": {"S": point.dedupe_key},
        "latitude": {"N": repr(point.latitude)},
        "longitude": {"N": repr(point.longitude)},
        "updated_utc": {"S": point.updated_utc.isoformat()},
        "document": {"S": point.model_dump_json()},
    }


def _name_item(point: Point) -> dict[str, Any]:
    return {"pk": {"S": name_key(point.point_name)}, "kind": {"S": "name"}, "point_id": {"S": point.point_id}}


UNSEEN_VERSION = "-1"  # versions start at 1: a guard on it always fails


class DynamoRepository:
    """PointsRepository over one DynamoDB table plus the points file in S3."""

    mode: Literal["aws", "embedded"] = "aws"

    def __init__(self, table_name: str, store_url: str, dedupe_distance_km: float, endpoint_url: str | None = None):
        self.table_name = table_name
        self.store_url = store_url
        self.dedupe_distance_km = dedupe_distance_km
        self.client = boto3.client("dynamodb", endpoint_url=endpoint_url, config=Config(**S3_RETRY_CONFIG))
        self.store = ArtifactStore(store_url, endpoint_url=endpoint_url)
        self.s3 = self.store.s3_client()  # the client the store's conditional writes go through
        self._rebuild_lock = threading.Lock()  # one rebuild at a time per instance (≈ per Lambda container)

    # --- reads -------------------------------------------------------------------------------

    def scan_points(self) -> list[Point]:
        """Every point item, by a consistent scan, sorted by id."""
        paginator = self.client.get_paginator("scan")
        points: list[Point] = []
        for page in paginator.paginate(
            TableName=self.table_name,
            ConsistentRead=True,
            FilterExpression="kind = :point",
            ExpressionAttributeValues={":point": {"S": "point"}},
        ):
            points += [Point.model_validate_json(item["document"]["S"]) for item in page.get("Items", [])]
        return sorted(points, key=lambda point: point.point_id)

    def _get(self, point_id: str) -> Point | None:
        response = self.client.get_item(
            TableName=self.table_name, Key={"pk": {"S": point_key(point_id)}}, ConsistentRead=True
        )
        item = response.get("Item")
        return Point.model_validate_json(item["document"]["S"]) if item else None

    def _owner_of_name(self, point_name: str) -> Point | None:
        response = self.client.get_item(
            TableName=self.table_name, Key={"pk": {"S": name_key(point_name)}}, ConsistentRead=True
        )
        item = response.get("Item")
        return self._get(item["point_id"]["S"]) if item else None

    def list_points(self) -> list[Point]:
        """The points file's view (what extraction and the app read), falling back to the table."""
        found = self.store.read_versioned(PRE_CANNED_POINTS_KEY)
        return parse_document(found.data) if found is not None else self.scan_points()

    # --- writes ------------------------------------------------------------------------------

    def _transact(self, items: list[dict[str, Any]]) -> list[str] | None:
        """Run the transaction exactly once in effect (``transactions.transact_once``); None on
        success, else the per-item cancellation codes."""
        return transact_once(self.client, self.table_name, items)

    def _name_taken(self, point_name: str, exclude_id: str | None = None) -> DuplicatePoint:
        owner = self._owner_of_name(point_name)
        if owner is None or owner.point_id == exclude_id:
            raise StorageConflict("the name was taken and released concurrently; try again")
        return DuplicatePoint(owner, "name", 0.0)

    def _cell_versions(self, keys: list[str]) -> dict[str, str]:
        """Current ``version`` of each existing cell item among ``keys``.

        ``TransactGetItems`` (a serialisable read, authorised as ``dynamodb:GetItem`` per item, so
        the role needs no ``BatchGetItem``). A cell item read without its ``version`` (a backend
        that lets a read see a transaction half applied, as moto does) gets a version no item has,
        so this attempt's guard fails and the create reads again.
        """
        response = self.client.transact_get_items(
            TransactItems=[{"Get": {"TableName": self.table_name, "Key": {"pk": {"S": key}}}} for key in keys]
        )
        items = [entry.get("Item") for entry in response.get("Responses", [])]
        return {item["pk"]["S"]: item.get("version", {}).get("N", UNSEEN_VERSION) for item in items if item}

    def _cell_guards(self, cells: list[str], versions: dict[str, str]) -> list[dict[str, Any]]:
        """Transaction items: bump the own cell's version, and require every neighbour unchanged."""
        guards: list[dict[str, Any]] = []
        for position, key in enumerate(cells):
            seen = versions.get(key)
            condition: dict[str, Any] = (
                {"ConditionExpression": "version = :seen", "ExpressionAttributeValues": {":seen": {"N": seen}}}
                if seen is not None
                else {"ConditionExpression": "attribute_not_exists(pk)"}
            )
            item_key = {"pk": {"S": key}}
            if position == 0:
                values = {**condition.get("ExpressionAttributeValues", {}), ":one": {"N": "1"}, ":zero": {"N": "0"}}
                guards.append(
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": item_key,
                            "UpdateExpression": "SET version = if_not_exists(version, :zero) + :one, kind = :cell",
                            "ConditionExpression": condition["ConditionExpression"],
                            "ExpressionAttributeValues": {**values, ":cell": {"S": "cell"}},
                        }
                    }
                )
            else:
                guards.append({"ConditionCheck": {"TableName": self.table_name, "Key": item_key, **condition}})
        return guards

    def create_point(self, payload: PointPayload) -> WriteResult:
        position = (payload.latitude, payload.longitude)
        point = new_point(payload)
        distance = self.dedupe_distance_km
        cells = geocells.cell_keys(*position, distance) if distance > 0 else []
        for attempt in range(WRITE_ATTEMPTS):
            versions = self._cell_versions(cells) if cells else {}
            conflict = find_conflict(self.scan_points(), payload.point_name, position, distance)
            if conflict:
                raise conflict
            puts = [
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
                for item in (_point_item(point), _name_item(point))
            ]
            reasons = self._transact(puts + self._cell_guards(cells, versions))
            if reasons is None:
                result = WriteResult("create", None, point)
                self._rebuild_after_write(result)
                return result
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                raise self._name_taken(point.point_name)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                existing = self._get(point.point_id)
                if existing is not None:
                    raise DuplicatePoint(existing, "name", 0.0)
            # a create nearby committed since the scan: re-check against it
            time.sleep(random.uniform(0, 0.02 * 2**attempt))  # noqa: S311 (jitter)
        raise StorageConflict("points nearby kept changing; try again")

    def _replace_point(self, before: Point, after: Point | None) -> list[str] | None:
        """Conditional write replacing ``before`` (read earlier) by ``after`` (None: delete)."""
        guard = {
            "ConditionExpression": "#doc = :before",
            "ExpressionAttributeNames": {"#doc": "document"},
            "ExpressionAttributeValues": {":before": {"S": before.model_dump_json()}},
        }
        key = {"pk": {"S": point_key(before.point_id)}}
        items: list[dict[str, Any]] = []
        if after is None:
            items.append({"Delete": {"TableName": self.table_name, "Key": key, **guard}})
        else:
            items.append({"Put": {"TableName": self.table_name, "Item": _point_item(after), **guard}})
        renamed = after is None or name_dedupe_key(after.point_name) != before.dedupe_key
        if renamed:
            owned = {
                "ConditionExpression": "point_id = :id",
                "ExpressionAttributeValues": {":id": {"S": before.point_id}},
            }
            items.append(
                {"Delete": {"TableName": self.table_name, "Key": {"pk": {"S": name_key(before.point_name)}}, **owned}}
            )
        if after is not None and renamed:
            items.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": _name_item(after),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        return self._transact(items)

    def _change(self, point_id: str, update: PointUpdate | None) -> WriteResult:
        check_point_id(point_id)
        for attempt in range(WRITE_ATTEMPTS):
            before = self._get(point_id)
            if before is None:
                raise NotFound(f"no point {point_id!r}")
            if update is not None and update.point_name is not None:
                conflict = find_conflict(self.scan_points(), update.point_name, None, 0.0, exclude_id=point_id)
                if conflict:
                    raise conflict
            after = updated_point(before, update) if update is not None else None
            reasons = self._replace_point(before, after)
            if reasons is None:
                result = WriteResult("update" if after else "delete", before, after)
                self._rebuild_after_write(result)
                return result
            if after is not None and len(reasons) > 2 and reasons[2] == "ConditionalCheckFailed":
                raise self._name_taken(after.point_name, exclude_id=point_id)
            time.sleep(0.01 * 2**attempt)  # the point changed under us: re-read and retry
        raise StorageConflict(f"point {point_id} kept changing; try again")

    def update_point(self, point_id: str, update: PointUpdate) -> WriteResult:
        return self._change(point_id, update)

    def delete_point(self, point_id: str) -> WriteResult:
        return self._change(point_id, None)

    # --- the points file ---------------------------------------------------------------------

    def _rebuild_after_write(self, result: WriteResult) -> None:
        """Rebuild after a committed write; a failure is logged, not raised (the table has the
        write, and the next write's rebuild repairs the file)."""

        def reflects(points: list[Point]) -> bool:
            if result.after is not None:
                return result.after in points
            return all(point.point_id != result.point.point_id for point in points)

        try:
            self.rebuild_points_file(reflects)
        except StorageConflict:
            log.exception("points file not rebuilt after a committed write")

    def rebuild_points_file(self, reflects: Callable[[list[Point]], bool] | None = None) -> None:
        """Rebuild ``pre_canned_points.json`` from the table until it ``reflects`` a committed write
        (default: until it equals the table).

        Each round reads the file and its ETag, stops if the file already reflects the write (a
        later writer's rebuild carried it), else scans the table and writes the scan with
        ``IfMatch`` (``IfNoneMatch`` when absent); the next round re-reads to verify. File first,
        then table: a put conditional on that ETag carries a scan taken after every put before it,
        so with S3's atomic IfMatch no committed write is ever dropped from the file. (moto's
        IfMatch is not atomic; the verifying re-read catches a lost race of this writer's own
        put, and the tests serialise puts to get S3's guarantee.)
        """
        with self._rebuild_lock:
            for attempt in range(REBUILD_ATTEMPTS):
                found = self.store.read_versioned(PRE_CANNED_POINTS_KEY)
                current = parse_document(found.data) if found is not None else None
                if current is not None and (reflects(current) if reflects else current == self.scan_points()):
                    return
                document = points_document(self.scan_points())
                if not self.store.replace_if(PRE_CANNED_POINTS_KEY, document, found.version if found else None):
                    time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))  # noqa: S311 (jitter)
        raise StorageConflict("the points file could not be brought in line with the table; try again")


def build_aws_services(settings: ApiSettings) -> tuple[DynamoRepository, AuditLog]:
    """The AWS-mode repository and audit log from ``settings``."""
    if not settings.artifact_store_url.startswith("s3://"):
        raise RuntimeError("AWS mode needs ARTIFACT_STORE_URL=s3://bucket[/prefix]")
    repository = DynamoRepository(
        settings.points_table, settings.artifact_store_url, settings.dedupe_distance_km, settings.endpoint_url
    )
    audit: AuditLog
    if settings.audit_table:
        resource = boto3.resource("dynamodb", endpoint_url=settings.endpoint_url, config=Config(**S3_RETRY_CONFIG))
        table = resource.Table(settings.audit_table)
        audit = DynamoAuditLog(table)
    else:
        from forecast_core.store import ArtifactStore

        audit = StoreAuditLog(ArtifactStore(settings.artifact_store_url, endpoint_url=settings.endpoint_url))
    return repository, audit
