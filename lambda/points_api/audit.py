"""Audit trail: one record per successful write (who, what, when, before/after).

- AWS: an item in ``AUDIT_TABLE_NAME`` (partition ``point_id``, sort ``at`` = ISO time + ``#`` + uuid).
- Embedded, local folder: a JSON line appended under an exclusive lock to
  ``logs/points_api/audit.jsonl`` (``forecast_core.layout.POINTS_AUDIT_LOG_KEY``).
- Embedded, S3: one JSON object per record under ``logs/points_api/records/`` (S3 cannot append).
"""

from __future__ import annotations

import fcntl
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from forecast_core.layout import POINTS_AUDIT_LOG_KEY
from forecast_core.store import ArtifactStore


class _OfPoint(Protocol):
    @property
    def point_id(self) -> str: ...


class Audited(Protocol):
    """A write to audit: a point's (``points_api.repository.WriteResult``) or a rule's
    (``points_api.rules.RuleWriteResult``, keyed by the rule's point)."""

    @property
    def action(self) -> str: ...
    @property
    def before(self) -> BaseModel | None: ...
    @property
    def after(self) -> BaseModel | None: ...
    @property
    def point(self) -> _OfPoint: ...


AUDIT_RECORDS_PREFIX = POINTS_AUDIT_LOG_KEY.rsplit("/", 1)[0] + "/records/"


def audit_record(result: Audited, actor: str) -> dict[str, Any]:
    """The JSON-ready audit record of ``result`` done by ``actor``."""
    moment = datetime.now(UTC)
    return {
        "point_id": result.point.point_id,
        "at": f"{moment.isoformat(timespec='microseconds')}#{uuid.uuid4().hex[:12]}",
        "action": result.action,
        "actor": actor,
        "before": result.before.model_dump(mode="json") if result.before else None,
        "after": result.after.model_dump(mode="json") if result.after else None,
    }


class AuditLog(Protocol):
    def record(self, result: Audited, actor: str) -> dict[str, Any]: ...


class StoreAuditLog:
    """Audit records in an artifact store (JSON lines locally, one object per record on S3)."""

    def __init__(self, store: ArtifactStore):
        self.store = store

    def record(self, result: Audited, actor: str) -> dict[str, Any]:
        record = audit_record(result, actor)
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        if self.store.is_local:
            path = Path(self.store.path(POINTS_AUDIT_LOG_KEY))
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as handle:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # O_APPEND plus a lock: lines never interleave
                handle.write(line)
                handle.flush()
        else:
            stamp = record["at"].replace(":", "").replace("+", "Z").replace("#", "-")
            self.store.write_bytes(f"{AUDIT_RECORDS_PREFIX}{stamp}.json", line.encode("utf-8"))
        return record


class DynamoAuditLog:
    """Audit records as items of the audit table (before/after as JSON strings)."""

    def __init__(self, table: Any):
        self.table = table

    def record(self, result: Audited, actor: str) -> dict[str, Any]:
        record = audit_record(result, actor)
        item = {
            **record,
            "before": json.dumps(record["before"]) if record["before"] else None,
            "after": json.dumps(record["after"]) if record["after"] else None,
        }
        self.table.put_item(Item={key: value for key, value in item.items() if value is not None})
        return record
