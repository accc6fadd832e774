"""Configuration of the write-back API, read from environment variables once per process.

AWS mode is chosen by ``POINTS_TABLE_NAME``; otherwise the API runs embedded over the store named
by ``POINTS_API_STORE_URL`` / ``FORECAST_STORE_URL`` / ``ARTIFACT_STORE_URL`` (first one set).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Final

DEFAULT_DEDUPE_DISTANCE_KM: Final = 0.5
DEFAULT_MAX_BODY_BYTES: Final = 4096


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _list_env(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


@dataclass(frozen=True)
class ExtractionTaskSettings:
    """Where the targeted extraction runs in AWS (ECS RunTask); ``enabled`` only when all are set."""

    cluster_arn: str = ""
    task_definition_arn: str = ""
    subnets: list[str] = field(default_factory=list)
    security_groups: list[str] = field(default_factory=list)
    container_name: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.cluster_arn and self.task_definition_arn and self.subnets and self.container_name)


@dataclass(frozen=True)
class ApiSettings:
    """Everything the API reads from its environment."""

    points_table: str = ""
    audit_table: str = ""
    rules_table: str = ""
    artifact_store_url: str = ""
    dedupe_distance_km: float = DEFAULT_DEDUPE_DISTANCE_KM
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    targeted_extraction: bool = True
    endpoint_url: str | None = None
    extraction_task: ExtractionTaskSettings = field(default_factory=ExtractionTaskSettings)

    @property
    def aws_mode(self) -> bool:
        return bool(self.points_table)

    @classmethod
    def from_env(cls) -> ApiSettings:
        store = (
            os.environ.get("ARTIFACT_STORE_URL")
            if os.environ.get("POINTS_TABLE_NAME")
            else (
                os.environ.get("POINTS_API_STORE_URL")
                or os.environ.get("FORECAST_STORE_URL")
                or os.environ.get("ARTIFACT_STORE_URL")
            )
        )
        return cls(
            points_table=os.environ.get("POINTS_TABLE_NAME", ""),
            audit_table=os.environ.get("AUDIT_TABLE_NAME", ""),
            rules_table=os.environ.get("ALERT_RULES_TABLE_NAME", ""),
            artifact_store_url=store or "",
            dedupe_distance_km=_float_env("DEDUPE_DISTANCE_KM", DEFAULT_DEDUPE_DISTANCE_KM),
            max_body_bytes=_int_env("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            targeted_extraction=os.environ.get("POINTS_API_TARGETED_EXTRACTION", "1").strip() not in {"0", "false"},
            endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
            extraction_task=ExtractionTaskSettings(
                cluster_arn=os.environ.get("EXTRACTION_CLUSTER_ARN", ""),
                task_definition_arn=os.environ.get("EXTRACTION_TASK_DEFINITION_ARN", ""),
                subnets=_list_env("EXTRACTION_SUBNETS"),
                security_groups=_list_env("EXTRACTION_SECURITY_GROUPS"),
                container_name=os.environ.get("EXTRACTION_CONTAINER_NAME", ""),
            ),
        )
