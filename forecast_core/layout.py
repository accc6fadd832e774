"""The artifact store layout: every key the pipeline writes and the app reads.

Keys are relative to the store root (a local folder, ``s3://bucket/prefix`` or ``memory://``)::

    forecasts/source=<source_id>/variable=<variable_id>/init_date=<YYYY-MM-DD>/<kind>.<sha256>.parquet
        (kind: points, ensemble_summary or map_summary; content-addressed, never overwritten)
    dashboard/status/{extraction_status,inventory_status,alerts_status}.json
    dashboard/status/inventory_history.jsonl
    dashboard/config/{source_registry,canonical_variables,pre_canned_points,alert_rules}.json
    manifests/latest.json
    manifests/run_id=<YYYYMMDDTHHMMSSZ>.json
    alerts/notifications/run_id=<run_id>/rule_id=<rule_id>.json   (one per notification, created once)
    alerts/pending.json   (runs whose evaluation began: ``forecast_alerts.ledger``)
    logs/extraction/<run_id>.jsonl
    logs/points_api/audit.jsonl
    logs/alerts/notifications.jsonl   (local stores: the notification log)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final, Literal

ArtifactKind = Literal["points", "ensemble_summary", "map_summary"]
ARTIFACT_KINDS: Final[tuple[ArtifactKind, ...]] = ("points", "ensemble_summary", "map_summary")

FORECASTS_PREFIX: Final = "forecasts/"
DASHBOARD_PREFIX: Final = "dashboard/"
STATUS_PREFIX: Final = "dashboard/status/"
CONFIG_PREFIX: Final = "dashboard/config/"
MANIFESTS_PREFIX: Final = "manifests/"
LOGS_PREFIX: Final = "logs/"
EXTRACTION_LOGS_PREFIX: Final = "logs/extraction/"
ALERTS_PREFIX: Final = "alerts/"
ALERT_NOTIFICATIONS_PREFIX: Final = "alerts/notifications/"
ALERTS_PENDING_KEY: Final = "alerts/pending.json"

EXTRACTION_STATUS_KEY: Final = "dashboard/status/extraction_status.json"
INVENTORY_STATUS_KEY: Final = "dashboard/status/inventory_status.json"
INVENTORY_HISTORY_KEY: Final = "dashboard/status/inventory_history.jsonl"

SOURCE_REGISTRY_KEY: Final = "dashboard/config/source_registry.json"
CANONICAL_VARIABLES_KEY: Final = "dashboard/config/canonical_variables.json"
PRE_CANNED_POINTS_KEY: Final = "dashboard/config/pre_canned_points.json"
ALERT_RULES_KEY: Final = "dashboard/config/alert_rules.json"
ALERTS_STATUS_KEY: Final = "dashboard/status/alerts_status.json"
ALERTS_LOG_KEY: Final = "logs/alerts/notifications.jsonl"

LATEST_MANIFEST_KEY: Final = "manifests/latest.json"
POINTS_AUDIT_LOG_KEY: Final = "logs/points_api/audit.jsonl"

RUN_ID_FORMAT: Final = "%Y%m%dT%H%M%SZ"
RUN_ID_PATTERN: Final = r"^\d{8}T\d{6}Z$"
"""A run id: its UTC start as ``RUN_ID_FORMAT`` (``forecast_core.base.RunId`` in models)."""
_RUN_ID_RE: Final = re.compile(RUN_ID_PATTERN)
IDENTIFIER_PATTERN: Final = r"^[a-z0-9][a-z0-9_\-]{0,63}$"
"""The one rule for source, variable and point ids (``forecast_core.base.Identifier`` in models)."""
_ID_RE: Final = re.compile(IDENTIFIER_PATTERN)
_ARTIFACT_RE: Final = re.compile(
    r"^forecasts/source=(?P<source>[^/]+)/variable=(?P<variable>[^/]+)/"
    r"init_date=(?P<init_date>\d{4}-\d{2}-\d{2})/(?P<kind>points|ensemble_summary|map_summary)"
    r"(?:\.(?P<sha256>[0-9a-f]{64}))?\.parquet$"
)
_SHA256_RE: Final = re.compile(r"^[0-9a-f]{64}$")


class LayoutError(ValueError):
    """A key or identifier does not follow the store layout."""


def make_run_id(moment: datetime | None = None) -> str:
    """Run id of a run started at ``moment`` (UTC now by default): ``YYYYMMDDTHHMMSSZ``."""
    moment = moment or datetime.now(UTC)
    if moment.tzinfo is None:
        raise LayoutError("run ids are made from timezone-aware datetimes")
    return moment.astimezone(UTC).strftime(RUN_ID_FORMAT)


def parse_run_id(run_id: str) -> datetime:
    """The UTC start time a run id encodes; raises LayoutError on a malformed id."""
    if not _RUN_ID_RE.match(run_id):
        raise LayoutError(f"malformed run id {run_id!r}: expected YYYYMMDDTHHMMSSZ")
    return datetime.strptime(run_id, RUN_ID_FORMAT).replace(tzinfo=UTC)


def check_identifier(value: str, what: str = "identifier") -> str:
    """Return ``value`` if it is a safe id (lowercase, digits, ``-``/``_``, ≤ 64 chars)."""
    if not _ID_RE.match(value):
        raise LayoutError(f"invalid {what} {value!r}: use a-z, 0-9, '-' or '_' (max 64)")
    return value


def run_manifest_key(run_id: str) -> str:
    """Key of the manifest of run ``run_id``."""
    parse_run_id(run_id)
    return f"{MANIFESTS_PREFIX}run_id={run_id}.json"


def extraction_log_key(run_id: str) -> str:
    """Key of the JSON-lines log of extraction run ``run_id``."""
    parse_run_id(run_id)
    return f"{EXTRACTION_LOGS_PREFIX}{run_id}.jsonl"


def notification_prefix(run_id: str) -> str:
    """Folder of the notification records of one run's alert evaluation."""
    parse_run_id(run_id)
    return f"{ALERT_NOTIFICATIONS_PREFIX}run_id={run_id}/"


def notification_key(run_id: str, rule_id: str) -> str:
    """Key of the record of the notification about rule ``rule_id`` for run ``run_id``: created
    once, before the notification is sent (the idempotency key of ``forecast_alerts.ledger``)."""
    check_identifier(rule_id, "rule id")
    return f"{notification_prefix(run_id)}rule_id={rule_id}.json"


def artifact_prefix(source_id: str, variable_id: str, init_date: date) -> str:
    """Folder holding the three artifacts of one (source, variable, init date)."""
    check_identifier(source_id, "source id")
    check_identifier(variable_id, "variable id")
    return f"{FORECASTS_PREFIX}source={source_id}/variable={variable_id}/init_date={init_date.isoformat()}/"


def artifact_key(source_id: str, variable_id: str, init_date: date, kind: ArtifactKind, sha256: str) -> str:
    """Key of one Parquet artifact, addressed by the sha256 of its bytes.

    A key names exactly one content, so a run never overwrites an object that a published
    manifest lists: a new run's bytes land under new keys (or under the same key when they are
    identical), and a run killed at any moment leaves the run in force intact.
    """
    if kind not in ARTIFACT_KINDS:
        raise LayoutError(f"unknown artifact kind {kind!r}")
    if not _SHA256_RE.match(sha256):
        raise LayoutError(f"invalid sha256 {sha256!r}: expected 64 lowercase hex digits")
    return f"{artifact_prefix(source_id, variable_id, init_date)}{kind}.{sha256}.parquet"


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """The parts of an artifact key (``sha256`` is None for keys written before content addressing)."""

    source_id: str
    variable_id: str
    init_date: date
    kind: ArtifactKind
    sha256: str | None = None


def parse_artifact_key(key: str) -> ArtifactRef:
    """Split an artifact key into its parts; raises LayoutError for any other key.

    Keys of the earlier fixed layout (``<kind>.parquet``, overwritten by each run) still parse,
    so manifests published before content addressing stay readable.
    """
    match = _ARTIFACT_RE.match(key)
    if match is None:
        raise LayoutError(f"not an artifact key: {key!r}")
    kind: ArtifactKind = match["kind"]  # type: ignore[assignment]
    return ArtifactRef(
        source_id=check_identifier(match["source"], "source id"),
        variable_id=check_identifier(match["variable"], "variable id"),
        init_date=date.fromisoformat(match["init_date"]),
        kind=kind,
        sha256=match["sha256"],
    )
