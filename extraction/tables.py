"""Arrow tables of the three artifacts, and their Parquet bytes (pure: arrays in, bytes out).

Row order and row groups follow ``forecast_core.parquet_schemas``: ``points`` sorted by
(point_id, lead_hours, ensemble_member) and ``ensemble_summary`` by (point_id, lead_hours), with
exactly one row group per point, so a reader filtering one point touches one row group;
``map_summary`` sorted by (lead_hours, latitude, longitude) with one row group per lead.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from extraction.derive import ensemble_stats
from extraction.plan import MappedPoint
from forecast_core.layout import ArtifactKind
from forecast_core.parquet_schemas import (
    ENSEMBLE_SUMMARY_OPTIONAL_FIELDS,
    ENSEMBLE_SUMMARY_SCHEMA,
    MAP_SUMMARY_SCHEMA,
    POINTS_OPTIONAL_FIELDS,
    POINTS_SCHEMA,
    TIMESTAMP,
    validate_table,
)

POINTS_FULL_SCHEMA = pa.schema(list(POINTS_SCHEMA) + list(POINTS_OPTIONAL_FIELDS))
SUMMARY_FULL_SCHEMA = pa.schema(list(ENSEMBLE_SUMMARY_SCHEMA) + list(ENSEMBLE_SUMMARY_OPTIONAL_FIELDS))
SUMMARY_STATS = ("min", "q10", "q25", "median", "q75", "q90", "max", "mean", "member_count")


@dataclass(frozen=True, slots=True)
class SeriesContext:
    """What every row of one (source, variable, init) shares."""

    source_id: str
    variable_id: str
    units: str
    init_time: datetime
    lead_seconds: npt.NDArray[np.float64]
    members: npt.NDArray[np.int16]
    ingested: npt.NDArray[np.bool_]  # (member, lead)


def _timestamps(init: datetime, lead_seconds: npt.NDArray[np.float64]) -> tuple[pa.Scalar, npt.NDArray[np.int64]]:
    init_us = round(init.timestamp() * 1e6)
    valid = init_us + np.round(lead_seconds * 1e6).astype(np.int64)
    return pa.scalar(init_us, TIMESTAMP), valid


def points_table(context: SeriesContext, mapped: Sequence[MappedPoint], values: npt.NDArray[np.float32]) -> pa.Table:
    """points.parquet rows: ``values`` is ``(member, lead, point)`` aligned with ``mapped``."""
    order = sorted(range(len(mapped)), key=lambda i: mapped[i].point.point_id)
    members, leads = values.shape[0], values.shape[1]
    per_point = members * leads
    count = len(order)
    # (point, lead, member) row order
    ordered = np.transpose(values[:, :, order], (2, 1, 0)).reshape(-1)
    init_scalar, valid = _timestamps(context.init_time, context.lead_seconds)
    lead_hours = context.lead_seconds / 3600.0

    def per_point_column(getter: Callable[[MappedPoint], float]) -> npt.NDArray[np.float64]:
        return np.repeat(np.array([getter(mapped[i]) for i in order], dtype=np.float64), per_point)

    columns = {
        "source_id": pa.array([context.source_id] * (count * per_point), pa.string()),
        "variable_id": pa.array([context.variable_id] * (count * per_point), pa.string()),
        "point_id": pa.array(np.repeat([mapped[i].point.point_id for i in order], per_point).tolist(), pa.string()),
        "point_name": pa.array(np.repeat([mapped[i].point.point_name for i in order], per_point).tolist(), pa.string()),
        "init_time": pa.array(np.full(count * per_point, init_scalar.value, dtype=np.int64), TIMESTAMP),
        "valid_time": pa.array(np.tile(np.repeat(valid, members), count), TIMESTAMP),
        "lead_hours": pa.array(np.tile(np.repeat(lead_hours, members), count), pa.float64()),
        "ensemble_member": pa.array(np.tile(np.tile(context.members, leads), count), pa.int16()),
        "value": pa.array(ordered.astype(np.float32), pa.float32(), from_pandas=True),
        "units_native": pa.array([context.units] * (count * per_point), pa.string()),
        "grid_latitude": pa.array(per_point_column(lambda m: m.cell.latitude), pa.float64()),
        "grid_longitude": pa.array(per_point_column(lambda m: m.cell.longitude), pa.float64()),
        "grid_distance_km": pa.array(per_point_column(lambda m: m.cell.distance_km), pa.float64()),
        "is_ingested": pa.array(np.tile(context.ingested.T.reshape(-1), count), pa.bool_()),
    }
    table = pa.table(columns, schema=POINTS_FULL_SCHEMA)
    validate_table(table, "points")
    return table


def summary_table(context: SeriesContext, mapped: Sequence[MappedPoint], values: npt.NDArray[np.float32]) -> pa.Table:
    """ensemble_summary.parquet rows: statistics over members per (point, lead)."""
    order = sorted(range(len(mapped)), key=lambda i: mapped[i].point.point_id)
    leads = values.shape[1]
    count = len(order)
    stats = ensemble_stats(values[:, :, order], SUMMARY_STATS)  # each (lead, point)
    init_scalar, valid = _timestamps(context.init_time, context.lead_seconds)
    any_ingested = context.ingested.any(axis=0)

    def per_point(items: list[object], kind: pa.DataType) -> pa.Array:
        return pa.array(np.repeat(np.array(items, dtype=object), leads).tolist(), kind)

    columns: dict[str, pa.Array] = {
        "source_id": pa.array([context.source_id] * (count * leads), pa.string()),
        "variable_id": pa.array([context.variable_id] * (count * leads), pa.string()),
        "point_id": per_point([mapped[i].point.point_id for i in order], pa.string()),
        "init_time": pa.array(np.full(count * leads, init_scalar.value, dtype=np.int64), TIMESTAMP),
        "valid_time": pa.array(np.tile(valid, count), TIMESTAMP),
        "lead_hours": pa.array(np.tile(context.lead_seconds / 3600.0, count), pa.float64()),
    }
    for name in SUMMARY_STATS:
        flat = stats[name].T.reshape(-1)  # (point, lead) order
        if name == "member_count":
            columns[name] = pa.array(flat.astype(np.int16), pa.int16())
        else:
            columns[name] = pa.array(flat.astype(np.float32), pa.float32(), from_pandas=True)
    columns["units_native"] = pa.array([context.units] * (count * leads), pa.string())
    columns["point_name"] = per_point([mapped[i].point.point_name for i in order], pa.string())
    columns["grid_latitude"] = per_point([mapped[i].cell.latitude for i in order], pa.float64())
    columns["grid_longitude"] = per_point([mapped[i].cell.longitude for i in order], pa.float64())
    columns["grid_distance_km"] = per_point([mapped[i].cell.distance_km for i in order], pa.float64())
    columns["is_ingested"] = pa.array(np.tile(any_ingested, count), pa.bool_())
    table = pa.table(columns, schema=SUMMARY_FULL_SCHEMA)
    validate_table(table, "ensemble_summary")
    return table


def map_table(
    context: SeriesContext,
    lead_indices: Sequence[int],
    latitudes: npt.NDArray[np.float64],
    longitudes: npt.NDArray[np.float64],
    stats: dict[str, npt.NDArray[np.float32]],
) -> pa.Table:
    """map_summary.parquet rows for cells with at least one member, stats shaped (lead, lat, lon)."""
    lead_seconds = context.lead_seconds[list(lead_indices)]
    init_scalar, valid = _timestamps(context.init_time, lead_seconds)
    n_lead = stats["member_count"].shape[0]
    lead_grid, lat_grid, lon_grid = np.meshgrid(np.arange(n_lead), latitudes, longitudes, indexing="ij")
    keep = stats["member_count"].reshape(-1) > 0
    lead_pos = lead_grid.reshape(-1)[keep]
    lat_values = lat_grid.reshape(-1)[keep]
    lon_values = lon_grid.reshape(-1)[keep]
    order = np.lexsort((lon_values, lat_values, lead_pos))
    rows = int(keep.sum())

    def stat(name: str) -> npt.NDArray[np.float32]:
        return stats[name].reshape(-1)[keep][order]

    table = pa.table(
        {
            "source_id": pa.array([context.source_id] * rows, pa.string()),
            "variable_id": pa.array([context.variable_id] * rows, pa.string()),
            "init_time": pa.array(np.full(rows, init_scalar.value, dtype=np.int64), TIMESTAMP),
            "valid_time": pa.array(valid[lead_pos[order]], TIMESTAMP),
            "lead_hours": pa.array(lead_seconds[lead_pos[order]] / 3600.0, pa.float64()),
            "latitude": pa.array(lat_values[order], pa.float64()),
            "longitude": pa.array(lon_values[order], pa.float64()),
            "median": pa.array(stat("median").astype(np.float32), pa.float32(), from_pandas=True),
            "q10": pa.array(stat("q10").astype(np.float32), pa.float32(), from_pandas=True),
            "q90": pa.array(stat("q90").astype(np.float32), pa.float32(), from_pandas=True),
            "member_count": pa.array(stat("member_count").astype(np.int16), pa.int16()),
            "units_native": pa.array([context.units] * rows, pa.string()),
        },
        schema=MAP_SUMMARY_SCHEMA,
    )
    validate_table(table, "map_summary")
    return table


def _group_runs(column: pa.ChunkedArray) -> list[int]:
    """Lengths of consecutive runs of equal values in a sorted column."""
    values = column.to_numpy(zero_copy_only=False)
    if len(values) == 0:
        return []
    change = np.nonzero(values[1:] != values[:-1])[0] + 1
    bounds = np.concatenate([[0], change, [len(values)]])
    return np.diff(bounds).astype(int).tolist()


def sort_table(table: pa.Table, kind: ArtifactKind) -> pa.Table:
    """Rows in the artifact's contract order."""
    keys = {
        "points": ["point_id", "lead_hours", "ensemble_member"],
        "ensemble_summary": ["point_id", "lead_hours"],
        "map_summary": ["lead_hours", "latitude", "longitude"],
    }[kind]
    return table.take(pc.sort_indices(table, sort_keys=[(key, "ascending") for key in keys]))


def parquet_bytes(table: pa.Table, kind: ArtifactKind) -> bytes:
    """Parquet bytes with one row group per point (or per lead for map_summary)."""
    validate_table(table, kind)
    group_column = "lead_hours" if kind == "map_summary" else "point_id"
    sink = io.BytesIO()
    with pq.ParquetWriter(sink, table.schema, compression="zstd", write_statistics=True) as writer:
        offset = 0
        for length in _group_runs(table[group_column]):
            writer.write_table(table.slice(offset, length), row_group_size=max(length, 1))
            offset += length
        if table.num_rows == 0:
            writer.write_table(table)
    return sink.getvalue()


def merge_points(previous: pa.Table, new: pa.Table, kind: ArtifactKind, replaced: set[str]) -> pa.Table:
    """``previous`` without the ``replaced`` point ids, plus ``new``, in contract order."""
    keep = pc.invert(pc.is_in(previous["point_id"], value_set=pa.array(sorted(replaced), pa.string())))
    kept = previous.filter(keep).select(new.schema.names).cast(new.schema)
    return sort_table(pa.concat_tables([kept, new]), kind)
