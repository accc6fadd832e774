"""JSON Schemas of the smoke outputs, generated from ``models`` and committed under ``schemas/``.

``python -m forecast_smoke.schemas`` rewrites the files; a test fails when one drifts from its
model. ``write_output`` validates every document against the *committed* file with jsonschema
before writing it, so a tool can never write what the published schema rejects.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel

from forecast_smoke.models import QueryResult, QuerySummary, ReadSummary, UploadSummary

SMOKE_MODELS: Final[dict[str, type[BaseModel]]] = {
    "smoke_query": QueryResult,
    "smoke_summary": QuerySummary,
    "s3_upload_summary": UploadSummary,
    "s3_read_summary": ReadSummary,
}
SCHEMA_DIR: Final = Path(str(resources.files("forecast_smoke") / "schemas"))


class SchemaViolation(ValueError):
    """A document does not match its committed JSON Schema; the message lists the errors."""


def schema_for(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of output ``name``, as generated from its model."""
    schema = SMOKE_MODELS[name].model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://forecast-panel.invalid/schemas/smoke/{name}.schema.json"
    return schema


def render(name: str) -> str:
    return json.dumps(schema_for(name), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@cache
def committed_schema(name: str) -> dict[str, Any]:
    """The committed schema file of output ``name``."""
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
    return loaded


@cache
def _validator(name: str) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(
        committed_schema(name), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def validate_document(name: str, document: Any) -> None:
    """Raise SchemaViolation unless ``document`` (parsed JSON) matches the committed schema."""
    validator = _validator(name)
    errors = sorted(validator.iter_errors(document), key=lambda error: list(error.absolute_path))
    if errors:
        details = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors[:5])
        raise SchemaViolation(f"{name}: {len(errors)} schema error(s): {details}")


def validate_file(name: str, path: Path) -> None:
    """Validate the JSON file at ``path`` against the committed schema ``name``."""
    validate_document(name, json.loads(path.read_bytes()))


def write_output(name: str, value: BaseModel, path: Path) -> Path:
    """Validate ``value`` against schema ``name``, then write it atomically (temp file + rename)."""
    data = value.model_dump_json(indent=2).encode("utf-8") + b"\n"
    validate_document(name, json.loads(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
    temporary.write_bytes(data)
    os.replace(temporary, path)
    return path


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SMOKE_MODELS:
        path = directory / f"{name}.schema.json"
        path.write_text(render(name), encoding="utf-8")
        written.append(path)
    committed_schema.cache_clear()
    _validator.cache_clear()
    return written


if __name__ == "__main__":
    for written_path in write_all():
        sys.stdout.write(f"wrote {written_path}\n")
