"""JSON Schema files generated from the contract models and committed under ``json_schemas/``.

``python -m forecast_core.json_schemas`` rewrites them; a test fails when a committed file drifts
from its model, so every contract change shows up as a reviewed diff.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel

from forecast_core.points import Point, PointPayload, PointUpdate, PreCannedPoints
from forecast_core.registry import CanonicalVariables, SourceRegistry
from forecast_core.status import ExtractionStatus, InventoryHistoryRow, InventoryStatus, RunManifest

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
}

SCHEMA_DIR: Final = Path(str(resources.files("forecast_core") / "json_schemas"))


def schema_for(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of contract ``name``, as generated from its model."""
    model = CONTRACT_MODELS[name]
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://forecast-panel.invalid/schemas/{name}.schema.json"
    return schema


def render(name: str) -> str:
    return json.dumps(schema_for(name), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def committed_schema(name: str) -> dict[str, Any]:
    """The committed schema file of contract ``name``."""
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
    return loaded


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in CONTRACT_MODELS:
        path = directory / f"{name}.schema.json"
        path.write_text(render(name), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_all():
        sys.stdout.write(f"wrote {written_path}\n")
