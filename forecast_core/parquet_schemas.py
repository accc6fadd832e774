"""Arrow schemas of the three Parquet artifacts (needs pyarrow; imported by pipeline and app).

Required columns are the design's contract. Columns may be added (display units, exceedance
fractions, grid-cell lat/lon …) but never dropped or renamed: ``validate_table`` accepts extra
columns and rejects a missing or mistyped required one.

Row order: ``points`` and ``ensemble_summary`` are sorted by (point_id, lead_hours[, member]);
writers size row groups so that one point of one file is one row group.

The schemas are committed as JSON under ``parquet_schemas/`` (``python -m
forecast_core.parquet_schemas`` rewrites them); a test fails when a file drifts from the code, so
every change to a Parquet contract shows up as a reviewed diff, as the JSON Schemas do.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Final

import pyarrow as pa

from forecast_core.layout import ArtifactKind

TIMESTAMP = pa.timestamp("us", tz="UTC")

POINTS_SCHEMA: Final = pa.schema(
    [
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("variable_id", pa.string(), nullable=False),
        pa.field("point_id", pa.string(), nullable=False),
        pa.field("point_name", pa.string(), nullable=False),
        pa.field("init_time", TIMESTAMP, nullable=False),
        pa.field("valid_time", TIMESTAMP, nullable=False),
        pa.field("lead_hours", pa.float64(), nullable=False),
        pa.field("ensemble_member", pa.int16(), nullable=False),
        pa.field("value", pa.float32(), nullable=True),
        pa.field("units_native", pa.string(), nullable=False),
    ]
)
"""points.parquet: every member and lead of every point (value NaN/null where absent)."""

POINTS_OPTIONAL_FIELDS: Final = pa.schema([])
"""Columns the pipeline adds to points.parquet (none: at millions of rows every column costs).
What is per point or per lead lives in ensemble_summary.parquet, one row per lead instead of one
per member and lead: the point's grid cell and ``is_ingested`` (a partial init's leads past its
ingested length have null values here and ``is_ingested`` false there)."""

ENSEMBLE_SUMMARY_SCHEMA: Final = pa.schema(
    [
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("variable_id", pa.string(), nullable=False),
        pa.field("point_id", pa.string(), nullable=False),
        pa.field("init_time", TIMESTAMP, nullable=False),
        pa.field("valid_time", TIMESTAMP, nullable=False),
        pa.field("lead_hours", pa.float64(), nullable=False),
        pa.field("min", pa.float32(), nullable=True),
        pa.field("q10", pa.float32(), nullable=True),
        pa.field("q25", pa.float32(), nullable=True),
        pa.field("median", pa.float32(), nullable=True),
        pa.field("q75", pa.float32(), nullable=True),
        pa.field("q90", pa.float32(), nullable=True),
        pa.field("max", pa.float32(), nullable=True),
        pa.field("member_count", pa.int16(), nullable=False),
    ]
)
"""ensemble_summary.parquet: boxplot-ready statistics over the members that have data."""

ENSEMBLE_SUMMARY_OPTIONAL_FIELDS: Final = pa.schema(
    [
        pa.field("mean", pa.float32()),
        pa.field("units_native", pa.string()),
        pa.field("point_name", pa.string()),
        pa.field("grid_latitude", pa.float64()),
        pa.field("grid_longitude", pa.float64()),
        pa.field("grid_distance_km", pa.float64()),
        pa.field("is_ingested", pa.bool_()),
    ]
)

MAP_SUMMARY_SCHEMA: Final = pa.schema(
    [
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("variable_id", pa.string(), nullable=False),
        pa.field("init_time", TIMESTAMP, nullable=False),
        pa.field("valid_time", TIMESTAMP, nullable=False),
        pa.field("lead_hours", pa.float64(), nullable=False),
        pa.field("latitude", pa.float64(), nullable=False),
        pa.field("longitude", pa.float64(), nullable=False),
        pa.field("median", pa.float32(), nullable=True),
        pa.field("q10", pa.float32(), nullable=True),
        pa.field("q90", pa.float32(), nullable=True),
        pa.field("member_count", pa.int16(), nullable=False),
        pa.field("units_native", pa.string(), nullable=False),
    ]
)
"""map_summary.parquet: per grid cell of the region around the points, for a set of leads."""

REQUIRED_SCHEMAS: Final[dict[ArtifactKind, pa.Schema]] = {
    "points": POINTS_SCHEMA,
    "ensemble_summary": ENSEMBLE_SUMMARY_SCHEMA,
    "map_summary": MAP_SUMMARY_SCHEMA,
}

OPTIONAL_SCHEMAS: Final[dict[ArtifactKind, pa.Schema]] = {
    "points": POINTS_OPTIONAL_FIELDS,
    "ensemble_summary": ENSEMBLE_SUMMARY_OPTIONAL_FIELDS,
    "map_summary": pa.schema([]),
}

QUANTILE_COLUMNS: Final = ("min", "q10", "q25", "median", "q75", "q90", "max")
QUANTILE_LEVELS: Final = {"q10": 0.10, "q25": 0.25, "median": 0.50, "q75": 0.75, "q90": 0.90}


class SchemaMismatch(ValueError):
    """A table lacks a required column or has it with another type."""


def _logical_type(data_type: pa.DataType) -> pa.DataType:
    """The type a column holds: a dictionary-encoded string column is a string column."""
    return data_type.value_type if pa.types.is_dictionary(data_type) else data_type


def validate_schema(schema: pa.Schema, kind: ArtifactKind) -> None:
    """Raise SchemaMismatch unless ``schema`` has every required column of ``kind`` with its type
    (dictionary encoding of a column is allowed: writers use it in memory)."""
    required = REQUIRED_SCHEMAS[kind]
    problems: list[str] = []
    for field in required:
        index = schema.get_field_index(field.name)
        if index < 0:
            problems.append(f"missing column {field.name!r}")
        elif not _logical_type(schema.field(index).type).equals(field.type):
            problems.append(f"column {field.name!r} is {schema.field(index).type}, expected {field.type}")
    if problems:
        raise SchemaMismatch(f"{kind}: " + "; ".join(problems))


def validate_table(table: pa.Table, kind: ArtifactKind) -> None:
    """Check a table against the required schema of ``kind`` (extra columns are allowed)."""
    validate_schema(table.schema, kind)


COMMITTED_DIR: Final = Path(str(resources.files("forecast_core") / "parquet_schemas"))


def describe(kind: ArtifactKind) -> dict[str, Any]:
    """The committed description of one artifact kind's columns: name, Arrow type, nullability."""

    def columns(schema: pa.Schema) -> list[dict[str, Any]]:
        return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]

    return {"kind": kind, "required": columns(REQUIRED_SCHEMAS[kind]), "optional": columns(OPTIONAL_SCHEMAS[kind])}


def render(kind: ArtifactKind) -> str:
    return json.dumps(describe(kind), indent=2) + "\n"


def committed(kind: ArtifactKind) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((COMMITTED_DIR / f"{kind}.json").read_text(encoding="utf-8"))
    return loaded


def write_all() -> list[Path]:
    """Rewrite every committed description from the code; returns the paths written."""
    COMMITTED_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in REQUIRED_SCHEMAS:
        path = COMMITTED_DIR / f"{kind}.json"
        path.write_text(render(kind), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_all():
        sys.stdout.write(f"wrote {written_path}\n")
