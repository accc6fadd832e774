"""Arrow tables of the three artifacts, and their Parquet bytes (pure: arrays in, bytes out).

Row order and row groups follow ``forecast_core.parquet_schemas``: ``points`` sorted by
(point_id, lead_hours, ensemble_member) and ``ensemble_summary`` by (point_id, lead_hours);
``map_summary`` sorted by (lead_hours, latitude, longitude). Row groups pack whole points (or
whole leads for the map) up to ~65 k rows, so a reader filtering one point touches exactly one
row group, and footers stay small at 1 000 points.
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


def repeated_strings(values: Sequence[str], repeats: int) -> pa.Array:
    """A string array holding each of ``values`` ``repeats`` times in a row, built from buffers
    (pa.repeat and take copy string by string, which dominates large tables)."""
    encoded = [value.encode() for value in values]
    lengths = np.repeat(np.array([len(item) for item in encoded], dtype=np.int64), repeats)
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise ValueError("string column over 2 GiB")
    data = b"".join(item * repeats for item in encoded)
    return pa.StringArray.from_buffers(
        lengths.size, pa.py_buffer(offsets.astype(np.int32).tobytes()), pa.py_buffer(data)
    )


def _const(value: str, rows: int) -> pa.Array:
    return repeated_strings([value], rows)


def _point_columns(mapped: Sequence[MappedPoint], order: list[int], rows_per_point: int) -> dict[str, pa.Array]:
    """Per-point columns, each point's value repeated over its rows."""
    chosen = [mapped[i] for i in order]
    return {
        "point_id": repeated_strings([m.point.point_id for m in chosen], rows_per_point),
        "point_name": repeated_strings([m.point.point_name for m in chosen], rows_per_point),
        "grid_latitude": pa.array(np.repeat([m.cell.latitude for m in chosen], rows_per_point), pa.float64()),
        "grid_longitude": pa.array(np.repeat([m.cell.longitude for m in chosen], rows_per_point), pa.float64()),
        "grid_distance_km": pa.array(np.repeat([m.cell.distance_km for m in chosen], rows_per_point), pa.float64()),
    }


def _order(mapped: Sequence[MappedPoint]) -> list[int]:
    return sorted(range(len(mapped)), key=lambda i: mapped[i].point.point_id)


ColumnCache = dict[tuple[object, ...], pa.Array]
"""Columns shared by the tables of one source and init (ids, times, leads, members, cells),
keyed by artifact kind, column and the ordered point ids: built once, reused per variable."""


def _shared(cache: ColumnCache | None, key: tuple[object, ...], build: Callable[[], pa.Array]) -> pa.Array:
    if cache is None:
        return build()
    if key not in cache:
        cache[key] = build()
    return cache[key]


def points_table(
    context: SeriesContext,
    mapped: Sequence[MappedPoint],
    values: npt.NDArray[np.float32],
    cache: ColumnCache | None = None,
) -> pa.Table:
    """points.parquet rows: ``values`` is ``(member, lead, point)`` aligned with ``mapped``."""
    order = _order(mapped)
    members, leads = values.shape[0], values.shape[1]
    per_point = members * leads
    rows = len(order) * per_point
    ordered = np.transpose(values[:, :, order], (2, 1, 0)).reshape(-1)  # (point, lead, member) rows
    init_scalar, valid = _timestamps(context.init_time, context.lead_seconds)
    lead_hours = context.lead_seconds / 3600.0
    ids = ("points", tuple(mapped[i].point.point_id for i in order))
    per = _shared_point_columns(cache, ids, mapped, order, per_point)
    n = len(order)
    columns = {
        "source_id": _shared(cache, (*ids, "source"), lambda: _const(context.source_id, rows)),
        "variable_id": _const(context.variable_id, rows),
        "point_id": per["point_id"],
        "point_name": per["point_name"],
        "init_time": _shared(cache, (*ids, "init"), lambda: pa.array(np.full(rows, init_scalar.value), TIMESTAMP)),
        "valid_time": _shared(
            cache, (*ids, "valid"), lambda: pa.array(np.tile(np.repeat(valid, members), n), TIMESTAMP)
        ),
        "lead_hours": _shared(cache, (*ids, "lead"), lambda: pa.array(np.tile(np.repeat(lead_hours, members), n))),
        "ensemble_member": _shared(
            cache, (*ids, "member"), lambda: pa.array(np.tile(np.tile(context.members, leads), n), pa.int16())
        ),
        "value": pa.array(ordered.astype(np.float32), pa.float32(), from_pandas=True),
        "units_native": _shared(cache, (*ids, "units", context.units), lambda: _const(context.units, rows)),
        "grid_latitude": per["grid_latitude"],
        "grid_longitude": per["grid_longitude"],
        "grid_distance_km": per["grid_distance_km"],
        "is_ingested": _shared(
            cache, (*ids, "ingested"), lambda: pa.array(np.tile(context.ingested.T.reshape(-1), n), pa.bool_())
        ),
    }
    table = pa.table(columns, schema=POINTS_FULL_SCHEMA)
    validate_table(table, "points")
    return table


def _shared_point_columns(
    cache: ColumnCache | None,
    ids: tuple[object, ...],
    mapped: Sequence[MappedPoint],
    order: list[int],
    rows_per_point: int,
) -> dict[str, pa.Array]:
    names = ("point_id", "point_name", "grid_latitude", "grid_longitude", "grid_distance_km")
    if cache is not None and all((*ids, name) in cache for name in names):
        return {name: cache[(*ids, name)] for name in names}
    built = _point_columns(mapped, order, rows_per_point)
    if cache is not None:
        cache.update({(*ids, name): column for name, column in built.items()})
    return built


def summary_table(
    context: SeriesContext,
    mapped: Sequence[MappedPoint],
    values: npt.NDArray[np.float32],
    cache: ColumnCache | None = None,
) -> pa.Table:
    """ensemble_summary.parquet rows: statistics over members per (point, lead)."""
    order = _order(mapped)
    leads = values.shape[1]
    rows = len(order) * leads
    stats = ensemble_stats(values[:, :, order], SUMMARY_STATS)  # each (lead, point)
    init_scalar, valid = _timestamps(context.init_time, context.lead_seconds)
    ids = ("summary", tuple(mapped[i].point.point_id for i in order))
    per = _shared_point_columns(cache, ids, mapped, order, leads)
    n = len(order)
    columns: dict[str, pa.Array] = {
        "source_id": _shared(cache, (*ids, "source"), lambda: _const(context.source_id, rows)),
        "variable_id": _const(context.variable_id, rows),
        "point_id": per["point_id"],
        "init_time": _shared(cache, (*ids, "init"), lambda: pa.array(np.full(rows, init_scalar.value), TIMESTAMP)),
        "valid_time": _shared(cache, (*ids, "valid"), lambda: pa.array(np.tile(valid, n), TIMESTAMP)),
        "lead_hours": _shared(cache, (*ids, "lead"), lambda: pa.array(np.tile(context.lead_seconds / 3600.0, n))),
    }
    for name in SUMMARY_STATS:
        flat = stats[name].T.reshape(-1)  # (point, lead) order
        if name == "member_count":
            columns[name] = pa.array(flat.astype(np.int16), pa.int16())
        else:
            columns[name] = pa.array(flat.astype(np.float32), pa.float32(), from_pandas=True)
    columns["units_native"] = _shared(cache, (*ids, "units", context.units), lambda: _const(context.units, rows))
    for name in ("point_name", "grid_latitude", "grid_longitude", "grid_distance_km"):
        columns[name] = per[name]
    columns["is_ingested"] = _shared(
        cache, (*ids, "ingested"), lambda: pa.array(np.tile(context.ingested.any(axis=0), n), pa.bool_())
    )
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
    if len(column) == 0:
        return []
    codes = pc.dictionary_encode(column).combine_chunks().indices.to_numpy()
    change = np.nonzero(codes[1:] != codes[:-1])[0] + 1
    bounds = np.concatenate([[0], change, [len(codes)]])
    return np.diff(bounds).astype(int).tolist()


def sort_table(table: pa.Table, kind: ArtifactKind) -> pa.Table:
    """Rows in the artifact's contract order."""
    keys = {
        "points": ["point_id", "lead_hours", "ensemble_member"],
        "ensemble_summary": ["point_id", "lead_hours"],
        "map_summary": ["lead_hours", "latitude", "longitude"],
    }[kind]
    return table.take(pc.sort_indices(table, sort_keys=[(key, "ascending") for key in keys]))


ROW_GROUP_TARGET_ROWS = 65_536
STATISTICS_COLUMNS = ["point_id", "lead_hours", "latitude", "longitude", "valid_time"]


def row_groups(group_lengths: Sequence[int], target_rows: int = ROW_GROUP_TARGET_ROWS) -> list[int]:
    """Row-group lengths that pack whole groups (points, or leads) up to ``target_rows`` each.

    A group is never split across two row groups, so reading one point touches one row group;
    a group longer than the target gets a row group of its own.
    """
    sizes: list[int] = []
    current = 0
    for length in group_lengths:
        if current and current + length > target_rows:
            sizes.append(current)
            current = 0
        current += length
    if current:
        sizes.append(current)
    return sizes


def parquet_bytes(table: pa.Table, kind: ArtifactKind, target_rows: int = ROW_GROUP_TARGET_ROWS) -> bytes:
    """Parquet bytes, zstd, row groups packing whole points (whole leads for map_summary);
    column statistics only on the columns readers filter on (keeps footers small)."""
    validate_table(table, kind)
    group_column = "lead_hours" if kind == "map_summary" else "point_id"
    sink = io.BytesIO()
    stats = [name for name in STATISTICS_COLUMNS if name in table.schema.names]
    # dictionary-encode the repetitive columns only (ids, times, leads, members, cell positions)
    dictionary = [field.name for field in table.schema if field.type != pa.float32()]
    with pq.ParquetWriter(
        sink, table.schema, compression="zstd", write_statistics=stats, use_dictionary=dictionary
    ) as writer:
        offset = 0
        for length in row_groups(_group_runs(table[group_column]), target_rows):
            writer.write_table(table.slice(offset, length), row_group_size=length)
            offset += length
        if table.num_rows == 0:
            writer.write_table(table)
    return sink.getvalue()


def merge_points(
    previous: pa.Table, new: pa.Table, kind: ArtifactKind, replaced: set[str], current: set[str] | None = None
) -> pa.Table:
    """``previous`` without the ``replaced`` point ids (and, if ``current`` is given, without
    points no longer in it, e.g. deleted or disabled since), plus ``new``, in contract order."""
    keep = pc.invert(pc.is_in(previous["point_id"], value_set=pa.array(sorted(replaced), pa.string())))
    if current is not None:
        keep = pc.and_(keep, pc.is_in(previous["point_id"], value_set=pa.array(sorted(current), pa.string())))
    kept = previous.filter(keep).select(new.schema.names).cast(new.schema)
    return sort_table(pa.concat_tables([kept, new]), kind)
