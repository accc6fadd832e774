"""JSON Schemas of the smoke outputs, generated from ``models`` and committed under ``schemas/``.

``python -m forecast_smoke.schemas`` rewrites the files; a test fails when one drifts from its
model. ``write_output`` validates every document against the *committed* file with jsonschema
before writing it, so a tool can never write what the published schema rejects.
"""

from __future__ import annotations

import json
import os
import uuid
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel

from forecast_core.json_schemas import SchemaSet
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


SMOKE_SCHEMAS: Final = SchemaSet(SMOKE_MODELS, SCHEMA_DIR, "https://forecast-panel.invalid/schemas/smoke/")
schema_for = SMOKE_SCHEMAS.schema_for
render = SMOKE_SCHEMAS.render


@cache
def committed_schema(name: str) -> dict[str, Any]:
    """The committed schema file of output ``name`` (read once per process)."""
    return SMOKE_SCHEMAS.committed(name)


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


def write_all() -> list[Path]:
    """Rewrite the committed schema files from the models (and forget the cached ones)."""
    written = SMOKE_SCHEMAS.write_all()
    committed_schema.cache_clear()
    _validator.cache_clear()
    return written


if __name__ == "__main__":
    SMOKE_SCHEMAS.main()
