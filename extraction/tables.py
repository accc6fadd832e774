"""Arrow tables of the three artifacts, and their Parquet bytes (pure: arrays in, bytes out).

Row order follows ``forecast_core.parquet_schemas``: ``points`` sorted by (point_id,
lead_hours, ensemble_member) and ``ensemble_summary`` by (point_id, lead_hours); ``map_summary``
by (lead_hours, latitude, longitude). Their files: ``extraction.parquet_files``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa

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


def _timestamps(init: datetime, lead_seconds: npt.NDArray[np.float64]) -> tuple[int, npt.NDArray[np.int64]]:
    init_us = round(init.timestamp() * 1e6)
    valid = init_us + np.round(lead_seconds * 1e6).astype(np.int64)
    return init_us, valid


def encoded_strings(schema: pa.Schema) -> pa.Schema:
    """``schema`` with its string columns dictionary-encoded (int32 codes), the in-memory form
    of the long tables: a handful of distinct ids over millions of rows."""
    return pa.schema(
        [field.with_type(pa.dictionary(pa.int32(), pa.string())) if field.type == pa.string() else field
         for field in schema]
    )  # fmt: skip


POINTS_TABLE_SCHEMA = encoded_strings(POINTS_FULL_SCHEMA)
SUMMARY_TABLE_SCHEMA = encoded_strings(SUMMARY_FULL_SCHEMA)


def column(values: npt.ArrayLike, arrow_type: pa.DataType | None = None, *, nan_is_null: bool = False) -> pa.Array:
    """An Arrow array over a numpy array's buffer (no copy when it is contiguous), with
    ``nan_is_null`` NaN values as nulls (what ``pa.array(…, from_pandas=True)`` makes).

    Built from buffers because ``pa.array`` imports pandas (≈ 0.6 s of a run's start) on its
    numpy path, to check for categoricals. The numpy dtype must match ``arrow_type``'s width."""
    array = np.ascontiguousarray(values)
    kind = arrow_type or pa.from_numpy_dtype(array.dtype)
    data = pa.py_buffer(np.packbits(array, bitorder="little") if kind == pa.bool_() else array)
    validity, nulls = None, 0
    if nan_is_null:
        missing = np.isnan(array)
        nulls = int(np.count_nonzero(missing))
        if nulls:
            validity = pa.py_buffer(np.packbits(~missing, bitorder="little"))
    return pa.Array.from_buffers(kind, len(array), [validity, data], null_count=nulls)


def strings(values: Sequence[str]) -> pa.Array:
    """A string array built from buffers (``pa.array`` on Python objects imports pandas too)."""
    encoded = [value.encode() for value in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(item) for item in encoded], out=offsets[1:])
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.string(), len(encoded), buffers)


def repeated(value: str, rows: int) -> pa.Array:
    """``rows`` copies of one string, as a plain string array."""
    data = value.encode()
    offsets = np.arange(rows + 1, dtype=np.int32) * len(data)
    return pa.Array.from_buffers(pa.string(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(data * rows)])


def labels(values: Sequence[str], codes: pa.Array) -> pa.DictionaryArray:
    """A dictionary-encoded string column: row i holds ``values[codes[i]]``."""
    # safe=False: the codes are built here, in range by construction (checking scans every row)
    return pa.DictionaryArray.from_arrays(codes, strings(values), safe=False)


def _order(mapped: Sequence[MappedPoint]) -> list[int]:
    return sorted(range(len(mapped)), key=lambda i: mapped[i].point.point_id)


ColumnCache = dict[tuple[object, ...], pa.Array]
"""Columns shared by the tables of one source and init (codes, times, leads, members), keyed by
artifact kind, column and the ordered point ids: built once, reused per variable."""


def _shared(cache: ColumnCache | None, key: tuple[object, ...], build: Callable[[], pa.Array]) -> pa.Array:
    if cache is None:
        return build()
    if key not in cache:
        cache[key] = build()
    return cache[key]


def _point_codes(points: int, rows_per_point: int) -> pa.Array:
    return column(np.repeat(np.arange(points, dtype=np.int32), rows_per_point))


def _constant_time(microseconds: int, rows: int) -> pa.Array:
    return column(np.full(rows, microseconds, dtype=np.int64), TIMESTAMP)


@dataclass(frozen=True, slots=True)
class CellSeries:
    """One variable's values per distinct grid cell, ``(cell, lead, member)``, and the cell row
    of each point: points on one cell share its series (derived and summarised once, stored per
    point)."""

    values: npt.NDArray[np.float32]
    cell_of_point: npt.NDArray[np.intp]


def _per_point_columns(
    context: SeriesContext, chosen: Sequence[MappedPoint], members: int, kind: ArtifactKind, cache: ColumnCache | None
) -> dict[str, pa.Array]:
    """The columns both per-point tables share, rows in (point, lead[, member]) order: ids,
    names, units, init, valid time and lead, each lead repeated ``members`` times (1 for the
    summary). Built from numpy buffers, no per-row Python work; everything but the variable's
    own labels is shared by a source's variables through ``cache``."""
    n, leads = len(chosen), context.lead_seconds.size
    rows = n * leads * members
    init_us, valid = _timestamps(context.init_time, context.lead_seconds)
    key = (kind, tuple(item.point.point_id for item in chosen))
    per_point = _shared(cache, (*key, "codes"), lambda: _point_codes(n, leads * members))
    constant = _shared(cache, (*key, "zeros"), lambda: column(np.zeros(rows, dtype=np.int32)))
    return {
        "source_id": labels([context.source_id], constant),
        "variable_id": labels([context.variable_id], constant),
        "point_id": labels([item.point.point_id for item in chosen], per_point),
        "point_name": labels([item.point.point_name for item in chosen], per_point),
        "units_native": labels([context.units], constant),
        "init_time": _shared(cache, (*key, "init"), lambda: _constant_time(init_us, rows)),
        "valid_time": _shared(cache, (*key, "valid"), lambda: column(np.tile(np.repeat(valid, members), n), TIMESTAMP)),
        "lead_hours": _shared(
            cache, (*key, "lead"), lambda: column(np.tile(np.repeat(context.lead_seconds / 3600.0, members), n))
        ),
    }


def points_table(
    context: SeriesContext,
    mapped: Sequence[MappedPoint],
    series: CellSeries,
    cache: ColumnCache | None = None,
) -> pa.Table:
    """points.parquet rows: ``series.cell_of_point`` is aligned with ``mapped``; string columns
    are dictionary arrays, the time/lead/member columns tiled patterns."""
    order = _order(mapped)
    n, (_, leads, members) = len(order), series.values.shape
    columns = _per_point_columns(context, [mapped[i] for i in order], members, "points", cache)
    columns["ensemble_member"] = _shared(
        cache, ("points", "member", n, leads), lambda: column(np.tile(context.members, leads * n), pa.int16())
    )
    columns["value"] = column(series.values[series.cell_of_point[order]].reshape(-1), pa.float32(), nan_is_null=True)
    table = pa.table(columns, schema=POINTS_TABLE_SCHEMA)
    validate_table(table, "points")
    return table


def _cell_column(chosen: Sequence[MappedPoint], attribute: str, leads: int) -> Callable[[], pa.Array]:
    """Builds a grid-cell attribute column (one value per point, repeated over its leads)."""
    return lambda: column(np.repeat(np.array([getattr(item.cell, attribute) for item in chosen], np.float64), leads))


def summary_table(
    context: SeriesContext,
    mapped: Sequence[MappedPoint],
    series: CellSeries,
    cache: ColumnCache | None = None,
) -> pa.Table:
    """ensemble_summary.parquet rows: statistics over members per (point, lead), computed once
    per cell; ``series.cell_of_point`` is aligned with ``mapped``."""
    order = _order(mapped)
    chosen = [mapped[i] for i in order]
    n, leads = len(order), series.values.shape[1]
    columns = _per_point_columns(context, chosen, 1, "ensemble_summary", cache)
    stats = ensemble_stats(series.values, SUMMARY_STATS, axis=2)  # each (cell, lead)
    cell_rows = series.cell_of_point[order]
    for name in SUMMARY_STATS:
        flat = stats[name][cell_rows].reshape(-1)  # (point, lead) order
        if name == "member_count":
            columns[name] = column(flat.astype(np.int16), pa.int16())
        else:
            columns[name] = column(flat.astype(np.float32), pa.float32(), nan_is_null=True)
    key = ("ensemble_summary", tuple(item.point.point_id for item in chosen))
    for name, attribute in (("grid_latitude", "latitude"), ("grid_longitude", "longitude"),
                            ("grid_distance_km", "distance_km")):  # fmt: skip
        columns[name] = _shared(cache, (*key, name), _cell_column(chosen, attribute, leads))
    columns["is_ingested"] = _shared(
        cache, (*key, "ingested"), lambda: column(np.tile(context.ingested.any(axis=0), n), pa.bool_())
    )
    table = pa.table(columns, schema=SUMMARY_TABLE_SCHEMA)
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
    init_us, valid = _timestamps(context.init_time, lead_seconds)
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
            "source_id": repeated(context.source_id, rows),
            "variable_id": repeated(context.variable_id, rows),
            "init_time": column(np.full(rows, init_us, dtype=np.int64), TIMESTAMP),
            "valid_time": column(valid[lead_pos[order]], TIMESTAMP),
            "lead_hours": column(lead_seconds[lead_pos[order]] / 3600.0, pa.float64()),
            "latitude": column(lat_values[order], pa.float64()),
            "longitude": column(lon_values[order], pa.float64()),
            "median": column(stat("median").astype(np.float32), pa.float32(), nan_is_null=True),
            "q10": column(stat("q10").astype(np.float32), pa.float32(), nan_is_null=True),
            "q90": column(stat("q90").astype(np.float32), pa.float32(), nan_is_null=True),
            "member_count": column(stat("member_count").astype(np.int16), pa.int16()),
            "units_native": repeated(context.units, rows),
        },
        schema=MAP_SUMMARY_SCHEMA,
    )
    validate_table(table, "map_summary")
    return table
