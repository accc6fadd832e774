"""JSON Schema files generated from the contract models and committed under ``json_schemas/``.

``python -m forecast_core.json_schemas`` rewrites them; a test fails when a committed file drifts
from its model, so every contract change shows up as a reviewed diff. ``SchemaSet`` is the one
mechanism; other packages with their own output contracts (the smoke tools) make their own set.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel

from forecast_core.alert_status import AlertsStatus, NotificationRecord, PendingEvaluations
from forecast_core.alerts import AlertRule, AlertRules, RulePayload, RuleUpdate
from forecast_core.points import Point, PointPayload, PointUpdate, PreCannedPoints
from forecast_core.registry import CanonicalVariables, SourceRegistry
from forecast_core.status import ExtractionStatus, InventoryHistoryRow, InventoryStatus, RunManifest


@dataclass(frozen=True)
class SchemaSet:
    """Models whose JSON Schemas (draft 2020-12) are committed as ``<name>.schema.json`` in ``directory``."""

    models: dict[str, type[BaseModel]]
    directory: Path
    id_prefix: str

    def schema_for(self, name: str) -> dict[str, Any]:
        """The schema of ``name`` as generated from its model now."""
        schema = self.models[name].model_json_schema(mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"{self.id_prefix}{name}.schema.json"
        return schema

    def render(self, name: str) -> str:
        return json.dumps(self.schema_for(name), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def committed(self, name: str) -> dict[str, Any]:
        """The committed schema file of ``name``."""
        loaded: dict[str, Any] = json.loads((self.directory / f"{name}.schema.json").read_text(encoding="utf-8"))
        return loaded

    def write_all(self) -> list[Path]:
        """Rewrite every schema file from its model; returns the paths written."""
        self.directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name in self.models:
            path = self.directory / f"{name}.schema.json"
            path.write_text(self.render(name), encoding="utf-8")
            written.append(path)
        return written

    def main(self) -> None:
        """Command-line entry: rewrite the files and say which."""
        for path in self.write_all():
            sys.stdout.write(f"wrote {path}\n")


CONTRACT_MODELS: Final[dict[str, type[BaseModel]]] = {
    "extraction_status": ExtractionStatus,
    "inventory_status": InventoryStatus,
    "inventory_history_row": InventoryHistoryRow,
    "run_manifest": RunManifest,
    "source_registry": SourceRegistry,
    "canonical_variables": CanonicalVariables,
    "pre_canned_points": PreCannedPoints,
    "point": Point,
    "point_payload": PointPayload,
    "point_update": PointUpdate,
    "alert_rules": AlertRules,
    "alert_rule": AlertRule,
    "rule_payload": RulePayload,
    "rule_update": RuleUpdate,
    "alerts_status": AlertsStatus,
    "notification_record": NotificationRecord,
    "pending_evaluations": PendingEvaluations,
}

SCHEMA_DIR: Final = Path(str(resources.files("forecast_core") / "json_schemas"))
CONTRACT_SCHEMAS: Final = SchemaSet(CONTRACT_MODELS, SCHEMA_DIR, "https://forecast-panel.invalid/schemas/")

schema_for = CONTRACT_SCHEMAS.schema_for
committed_schema = CONTRACT_SCHEMAS.committed
write_all = CONTRACT_SCHEMAS.write_all


if __name__ == "__main__":
    CONTRACT_SCHEMAS.main()
