"""Arrow schemas of the three Parquet artifacts (needs pyarrow; imported by pipeline and app).

Required columns are the design's contract. Columns may be added (display units, exceedance
fractions, grid-cell lat/lon …) but never dropped or renamed: ``validate_table`` accepts extra
columns and rejects a missing or mistyped required one.

Row order: ``points`` and ``ensemble_summary`` are sorted by (point_id, lead_hours[, member]);
writers size row groups so that one point of one file is one row group.
"""

from __future__ import annotations

from typing import Final

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
