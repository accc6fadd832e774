"""Artifact files: equal tables give equal bytes, whatever their in-memory form."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from extraction.parquet_files import canonical, merge_points, parquet_bytes
from extraction.tables import POINTS_FULL_SCHEMA, POINTS_TABLE_SCHEMA, column, labels, strings

IDS = ["p-03", "p-07", "p-11", "p-19"]
LEADS, MEMBERS = 5, 3
ROWS_PER_POINT = LEADS * MEMBERS


def _plain_points(names: list[str] | None = None) -> pa.Table:
    """A points table, plain strings, rows in contract order; point p-11 has a null value."""
    names = names or [f"Name {i}" for i in IDS]
    rows = len(IDS) * ROWS_PER_POINT
    ids = np.repeat(IDS, ROWS_PER_POINT).tolist()
    values = np.linspace(-5.0, 5.0, rows).astype(np.float32)
    values[2 * ROWS_PER_POINT + 4] = np.nan
    return pa.table(
        {
            "source_id": strings(["gefs"] * rows),
            "variable_id": strings(["temperature_2m"] * rows),
            "point_id": strings(ids),
            "point_name": strings(np.repeat(names, ROWS_PER_POINT).tolist()),
            "init_time": column(np.full(rows, 1_790_000_000_000_000, dtype=np.int64), pa.timestamp("us", "UTC")),
            "valid_time": column(
                np.tile(np.repeat(np.arange(LEADS) * 3_600_000_000, MEMBERS), len(IDS)) + 1_790_000_000_000_000,
                pa.timestamp("us", "UTC"),
            ),
            "lead_hours": column(np.tile(np.repeat(np.arange(LEADS, dtype=np.float64), MEMBERS), len(IDS))),
            "ensemble_member": column(np.tile(np.arange(MEMBERS, dtype=np.int16), LEADS * len(IDS)), pa.int16()),
            "value": column(values, pa.float32(), nan_is_null=True),
            "units_native": strings(["degC"] * rows),
        },
        schema=POINTS_FULL_SCHEMA,
    )


def _dictionary_form(table: pa.Table, extra: list[str]) -> pa.Table:
    """``table`` with its strings as dictionary arrays whose dictionaries list the used values
    in reverse order plus unused ``extra`` ones (as a source's assembly may hold)."""
    columns = []
    for field in table.schema:
        values = table[field.name].combine_chunks()
        if field.type == pa.string():
            used = pc.unique(values).to_pylist()
            dictionary = [*extra, *reversed(used)]
            codes = np.array([dictionary.index(v) for v in values.to_pylist()], dtype=np.int32)
            values = labels(dictionary, column(codes))
        columns.append(values)
    return pa.table(columns, schema=POINTS_TABLE_SCHEMA)


def _per_point_form(table: pa.Table) -> pa.Table:
    """``table`` as the assembly builds it: point id and name as dictionaries of one entry per
    point (names repeat when places share one), coded by point position."""
    codes = column(np.repeat(np.arange(len(IDS), dtype=np.int32), ROWS_PER_POINT))
    names = table["point_name"].to_pylist()[::ROWS_PER_POINT]
    ids, named = labels(IDS, codes), labels(names, codes)
    table = table.set_column(2, pa.field("point_id", ids.type, nullable=False), ids)
    return table.set_column(3, pa.field("point_name", named.type, nullable=False), named)


SHARED_NAMES = ["Springfield", "Denver", "Denver", "Springfield"]  # places may share a name


@pytest.mark.parametrize("names", [None, SHARED_NAMES])
@pytest.mark.parametrize("target_rows", [None, ROWS_PER_POINT, 2 * ROWS_PER_POINT + 1])
def test_plain_dictionary_chunked_and_read_back_tables_encode_alike(
    target_rows: int | None, names: list[str] | None
) -> None:
    plain = _plain_points(names)
    expected = parquet_bytes(plain, "points", target_rows)
    encoded = _dictionary_form(plain, extra=["p-99", "zzz"])
    chunked = pa.concat_tables([encoded.slice(0, 7), encoded.slice(7, 20), encoded.slice(27)])
    read_back = pq.read_table(io.BytesIO(expected))
    for form in (encoded, chunked, read_back, _per_point_form(plain)):
        assert parquet_bytes(form, "points", target_rows) == expected
    assert pq.read_table(io.BytesIO(expected)).equals(plain)


def test_merge_with_a_published_table_rewrites_the_same_file() -> None:
    published = parquet_bytes(_plain_points(), "points", ROWS_PER_POINT)
    rows = pq.read_table(io.BytesIO(published))
    again = _dictionary_form(rows.slice(ROWS_PER_POINT, ROWS_PER_POINT), extra=IDS)  # p-07 re-extracted
    merged = merge_points(rows, again, "points", replaced={"p-07"})
    assert parquet_bytes(merged, "points", ROWS_PER_POINT) == published


def test_canonical_dictionaries_hold_the_used_values_in_order_of_first_use() -> None:
    table = canonical(_dictionary_form(_plain_points(), extra=["p-99"]).slice(ROWS_PER_POINT, 2 * ROWS_PER_POINT))
    point_ids = table["point_id"].chunk(0)
    assert point_ids.dictionary.to_pylist() == ["p-07", "p-11"]
    assert table["source_id"].chunk(0).dictionary.to_pylist() == ["gefs"]
    assert table["point_id"].num_chunks == 1
