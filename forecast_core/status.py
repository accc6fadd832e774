"""Status, inventory and manifest contracts (``dashboard/status/*``, ``manifests/*``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, field_validator, model_validator

from forecast_core.base import ContractModel, Identifier, Message, RunId, UtcDatetime
from forecast_core.grid import GridSpec
from forecast_core.layout import ARTIFACT_KINDS, ArtifactKind, parse_artifact_key, parse_run_id


class ExtractionError(ContractModel):
    """One failure recorded by a run; the rest of the run still completes."""

    kind: Literal[
        "store_unreachable",
        "invalid_config",
        "missing_variable",
        "unit_mismatch",
        "all_nan",
        "point_outside_grid",
        "limit_exceeded",
        "write_failed",
        "interrupted",
        "internal",
    ]
    message: Message
    source_id: Identifier | None = None
    variable_id: Identifier | None = None
    point_id: Identifier | None = None


class ExtractionStatus(ContractModel):
    """``dashboard/status/extraction_status.json``: what the app shows at load."""

    last_successful_extract_utc: UtcDatetime | None
    run_id: RunId | None
    sources_processed: list[Identifier]
    variables_processed: list[Identifier]
    errors: list[ExtractionError]
    outcome: Literal["success", "partial", "failed", "skipped"] = "success"
    message: Message = ""
    last_attempt_utc: UtcDatetime | None = None


class PrefixUsage(ContractModel):
    """Object count and bytes under one top-level prefix of the store."""

    prefix: str
    object_count: NonNegativeInt
    total_size_bytes: NonNegativeInt


class InventoryStatus(ContractModel):
    """``dashboard/status/inventory_status.json``: the store's size and estimated cost."""

    bucket: str
    object_count: NonNegativeInt
    total_size_bytes: NonNegativeInt
    estimated_monthly_storage_usd: NonNegativeFloat
    last_inventory_update_utc: UtcDatetime
    prefixes: list[PrefixUsage] = []
    noncurrent_version_count: NonNegativeInt = 0
    noncurrent_size_bytes: NonNegativeInt = 0
    price_per_gb_month_usd: NonNegativeFloat | None = None
    price_as_of: date | None = None


class InventoryHistoryRow(ContractModel):
    """One line of ``dashboard/status/inventory_history.jsonl`` (the storage trend)."""

    timestamp_utc: UtcDatetime
    object_count: NonNegativeInt
    total_size_bytes: NonNegativeInt
    estimated_monthly_storage_usd: NonNegativeFloat


class ManifestArtifact(ContractModel):
    """One Parquet object of a run, pinned by size and checksum; its key is content-addressed
    (``version_id`` is only set by runs from before content addressing, on versioned buckets)."""

    key: str
    kind: ArtifactKind
    source_id: Identifier
    variable_id: Identifier
    init_date: date
    size_bytes: NonNegativeInt
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    row_count: NonNegativeInt
    version_id: str | None = None

    @model_validator(mode="after")
    def _key_matches_parts(self) -> ManifestArtifact:
        ref = parse_artifact_key(self.key)
        if (ref.source_id, ref.variable_id, ref.init_date, ref.kind) != (
            self.source_id,
            self.variable_id,
            self.init_date,
            self.kind,
        ):
            raise ValueError(f"artifact key {self.key!r} disagrees with its fields")
        if ref.sha256 is not None and ref.sha256 != self.sha256:
            raise ValueError(f"artifact key {self.key!r} names other content than its sha256 {self.sha256}")
        return self


class SourceRunInfo(ContractModel):
    """What a run used from one source."""

    source_id: Identifier
    init_time: UtcDatetime
    is_partial: bool
    ingested_lead_hours: NonNegativeFloat | None
    expected_lead_hours: NonNegativeFloat | None
    member_count: NonNegativeInt
    variables: list[Identifier]
    grid: GridSpec | None = None
    snapshot_id: str | None = None  # the Icechunk snapshot every read of the run came from


class RunManifest(ContractModel):
    """``manifests/run_id=<id>.json`` and, once published, ``manifests/latest.json``.

    A reader resolves latest.json and reads exactly the artifacts it lists, checking each one's
    ``sha256`` (``forecast_core.published``); listed objects are never overwritten.
    """

    run_id: RunId
    created_utc: UtcDatetime
    previous_run_id: RunId | None = None
    sources: list[SourceRunInfo]
    point_ids: list[Identifier]
    point_set_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    artifacts: list[ManifestArtifact]

    @field_validator("run_id")
    @classmethod
    def _valid_run_id(cls, value: str) -> str:
        parse_run_id(value)
        return value

    @model_validator(mode="after")
    def _unique_keys(self) -> RunManifest:
        keys = [artifact.key for artifact in self.artifacts]
        if len(keys) != len(set(keys)):
            raise ValueError("a manifest lists each artifact key once")
        return self

    def artifact(
        self, source_id: str, variable_id: str, kind: ArtifactKind, init_date: date | None = None
    ) -> ManifestArtifact | None:
        """The listed artifact for (source, variable, kind) at ``init_date`` (newest if None)."""
        matches = [
            artifact
            for artifact in self.artifacts
            if (artifact.source_id, artifact.variable_id, artifact.kind) == (source_id, variable_id, kind)
            and (init_date is None or artifact.init_date == init_date)
        ]
        return max(matches, key=lambda artifact: artifact.init_date) if matches else None

    def init_dates(self, source_id: str, variable_id: str) -> list[date]:
        """Init dates listed for (source, variable), newest first.

        A manifest lists the run's new artifacts and the earlier inits it carries forward, so
        the app can offer previous inits without listing the store.
        """
        dates = {
            artifact.init_date
            for artifact in self.artifacts
            if (artifact.source_id, artifact.variable_id) == (source_id, variable_id)
        }
        return sorted(dates, reverse=True)


__all__ = [
    "ARTIFACT_KINDS",
    "ExtractionError",
    "ExtractionStatus",
    "InventoryHistoryRow",
    "InventoryStatus",
    "ManifestArtifact",
    "PrefixUsage",
    "RunManifest",
    "SourceRunInfo",
]
