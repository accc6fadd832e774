"""What the routes write through: repository, audit log, targeted extraction, limits.

Built lazily from the environment (``ApiSettings.from_env``) on the first request of a Lambda
container; the local server installs its own with ``configure``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from forecast_core.store import ArtifactStore
from points_api.audit import AuditLog, StoreAuditLog
from points_api.embedded import StoreRepository
from points_api.extraction_trigger import EcsExtraction, ExtractionTrigger, NoExtraction, SubprocessExtraction
from points_api.repository import PointsRepository
from points_api.rules import RulesRepository
from points_api.rules_store import StoreRulesRepository
from points_api.settings import ApiSettings


@dataclass
class Services:
    repository: PointsRepository
    audit: AuditLog
    extraction: ExtractionTrigger
    max_body_bytes: int
    rules: RulesRepository | None = None  # alert rules (None: a deployment without a rules table)


_lock = threading.Lock()
_current: Services | None = None


def build_services(settings: ApiSettings) -> Services:
    """Services for ``settings``: DynamoDB + S3 in AWS mode, else the embedded store."""
    if settings.aws_mode:
        from points_api.dynamo import build_aws_services

        repository, audit = build_aws_services(settings)
        extraction: ExtractionTrigger = (
            EcsExtraction(settings.extraction_task, settings.artifact_store_url)
            if settings.targeted_extraction and settings.extraction_task.enabled
            else NoExtraction("EXTRACTION_* variables are not set")
        )
        rules: RulesRepository | None = None
        if settings.rules_table:
            from points_api.rules_dynamo import DynamoRulesRepository

            rules = DynamoRulesRepository(
                settings.rules_table, settings.artifact_store_url, repository, settings.endpoint_url
            )
        return Services(repository, audit, extraction, settings.max_body_bytes, rules)
    if not settings.artifact_store_url:
        raise RuntimeError("set POINTS_TABLE_NAME (AWS mode) or a store URL (FORECAST_STORE_URL) for embedded mode")
    store = ArtifactStore(settings.artifact_store_url, endpoint_url=settings.endpoint_url)
    extraction = (
        SubprocessExtraction(store.url)
        if settings.targeted_extraction
        else NoExtraction("targeted extraction switched off")
    )
    points = StoreRepository(store, settings.dedupe_distance_km)
    return Services(
        points, StoreAuditLog(store), extraction, settings.max_body_bytes, StoreRulesRepository(store, points)
    )


def configure(services: Services | None) -> None:
    """Install ``services`` for every following request (None: rebuild from the environment)."""
    global _current
    with _lock:
        _current = services


def current() -> Services:
    global _current
    with _lock:
        if _current is None:
            _current = build_services(ApiSettings.from_env())
        return _current
