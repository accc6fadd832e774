"""The artifacts' Parquet files (pure: tables in, bytes out), and the merge of a published table.

Row groups pack whole points (or whole leads for the map) up to ~65 k rows, so a reader
filtering one point touches exactly one row group, and footers stay small at 1 000 points.
Equal tables encode to equal bytes whatever their in-memory form (``canonical``), so the
content-addressed keys of unchanged data stay the same from run to run.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from extraction.tables import column, encoded_strings, strings
from forecast_core.layout import ArtifactKind
from forecast_core.parquet_schemas import validate_table


def _codes(array: pa.DictionaryArray) -> npt.NDArray[np.signedinteger]:
    """The dictionary codes as a numpy view (``to_numpy()`` would import pandas)."""
    indices = array.indices
    width = np.dtype(f"int{indices.type.bit_width}")
    return np.frombuffer(indices.buffers()[1], dtype=width, count=len(indices), offset=indices.offset * width.itemsize)


def _run_starts(codes: npt.NDArray[np.signedinteger]) -> npt.NDArray[np.intp]:
    """Row positions where a run of equal codes starts (the first row included)."""
    return np.concatenate([[0], np.nonzero(codes[1:] != codes[:-1])[0] + 1]).astype(np.intp)


def _group_runs(column: pa.ChunkedArray) -> list[int]:
    """Lengths of consecutive runs of equal values in a sorted column."""
    if len(column) == 0:
        return []
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    codes = _codes(column.unify_dictionaries().combine_chunks())
    return np.diff(np.append(_run_starts(codes), len(codes))).astype(int).tolist()


def _one_chunk(chunked: pa.ChunkedArray) -> pa.Array:
    """The column as one array (no copy when it already is one chunk)."""
    if chunked.num_chunks == 1:
        return chunked.chunk(0)
    if pa.types.is_dictionary(chunked.type):
        chunked = chunked.unify_dictionaries()
    return chunked.combine_chunks()


@dataclass(frozen=True, slots=True)
class FirstUse:
    """A dictionary column in first-use form: unique values, numbered in the order rows first
    use them. ``contiguous``: each value's rows are one run, so any slice of rows uses the
    values ``codes[0] … codes[-1]`` exactly (the points' columns, rows sorted by point)."""

    array: pa.DictionaryArray
    contiguous: bool

    def slice(self, offset: int, length: int) -> pa.DictionaryArray:
        """Rows ``offset`` … ``offset + length`` in first-use form."""
        part = self.array.slice(offset, length)
        if not self.contiguous or length == 0:
            return first_use(part).array
        codes = _codes(part)
        low, high = int(codes[0]), int(codes[-1])
        if low == 0 and high == len(self.array.dictionary) - 1:
            return part
        return pa.DictionaryArray.from_arrays(
            column(codes - np.int32(low)), self.array.dictionary.slice(low, high - low + 1), safe=False
        )


def first_use(array: pa.Array) -> FirstUse:
    """``array`` (strings, plain or dictionary) as dictionary codes of its used values only,
    unique and in the order of their first use: what ``dictionary_encode`` of the plain values
    gives, without hashing every row when the dictionary's values are already unique."""
    if array.null_count or len(array) == 0:
        plain = array.cast(array.type.value_type) if pa.types.is_dictionary(array.type) else array
        return FirstUse(pc.dictionary_encode(plain), contiguous=False)
    if not pa.types.is_dictionary(array.type):
        return first_use(pc.dictionary_encode(array))
    if len(array.dictionary) == 1:
        return FirstUse(array, contiguous=True)  # a constant column (source, variable, units)
    codes = _codes(array)
    run_codes = codes[_run_starts(codes)]
    _, first = np.unique(run_codes, return_index=True)
    used = run_codes[np.sort(first)]
    values = pc.dictionary_encode(array.dictionary.take(column(used)))  # merges repeated values
    renumbered = np.zeros(len(array.dictionary), dtype=np.int32)
    renumbered[used] = _codes(values)
    contiguous = len(values.dictionary) == len(run_codes)
    if len(used) == len(array.dictionary) and (renumbered == np.arange(len(renumbered))).all():
        return FirstUse(array, contiguous)
    renumbered_rows = pa.DictionaryArray.from_arrays(column(renumbered[codes]), values.dictionary, safe=False)
    return FirstUse(renumbered_rows, contiguous)


@dataclass(frozen=True, slots=True)
class CanonicalTable:
    """A table prepared once for ``rows``: one chunk per column, string columns in
    ``FirstUse`` form, so each row group's canonical form costs little more than a slice."""

    table: pa.Table
    dictionaries: dict[str, FirstUse]

    @classmethod
    def of(cls, table: pa.Table) -> CanonicalTable:
        arrays = [_one_chunk(chunked) for chunked in table.columns]
        dictionaries = {
            name: first_use(array)
            for name, array in zip(table.schema.names, arrays, strict=True)
            if array.type == pa.string() or pa.types.is_dictionary(array.type)
        }
        return cls(pa.table(arrays, schema=table.schema), dictionaries)

    def rows(self, offset: int, length: int) -> pa.Table:
        """Rows ``offset`` … ``offset + length`` in the canonical form the Parquet bytes are
        written from: one chunk per column, every string column a dictionary array (int32
        codes) of only the values those rows use, unique, in order of first use. Equal tables
        then encode to equal bytes however they were built (dictionary or plain strings,
        sliced, merged with a published table or read back from one)."""
        arrays = [
            self.dictionaries[name].slice(offset, length) if name in self.dictionaries else array.slice(offset, length)
            for name, array in zip(self.table.schema.names, self.table.columns, strict=True)
        ]
        return pa.table(arrays, schema=encoded_strings(self.table.schema))


def canonical(table: pa.Table) -> pa.Table:
    """``table`` in the canonical form of ``CanonicalTable.rows`` (all its rows)."""
    return CanonicalTable.of(table).rows(0, table.num_rows)


def decoded(table: pa.Table) -> pa.Table:
    """``table`` with dictionary-encoded columns turned back into plain ones (the types readers get)."""
    fields = [f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in table.schema]
    return table.cast(pa.schema(fields))


def sort_table(table: pa.Table, kind: ArtifactKind) -> pa.Table:
    """Rows in the artifact's contract order."""
    keys = {
        "points": ["point_id", "lead_hours", "ensemble_member"],
        "ensemble_summary": ["point_id", "lead_hours"],
        "map_summary": ["lead_hours", "latitude", "longitude"],
    }[kind]
    return table.take(pc.sort_indices(table, sort_keys=[(key, "ascending") for key in keys]))


ROW_GROUP_TARGET_ROWS = 65_536
WRITE_BATCH_ROWS = 65_536
"""Rows the Parquet writer encodes per internal batch (default 1 024): millions of rows of
cheap columns spend less time in per-batch overhead (points tables encode ~15 % faster)."""
STATISTICS_COLUMNS: dict[ArtifactKind, list[str]] = {
    "points": ["point_id"],
    "ensemble_summary": ["point_id"],
    "map_summary": ["lead_hours", "valid_time"],
}
"""Columns with row-group statistics: those a row group can be skipped by. A points or summary
row group holds whole points (every lead), a map row group whole leads (every cell), so lead and
time statistics would prune nothing in the first two, nor cell coordinates in the third."""
DICTIONARY_COLUMNS = {"latitude", "longitude", "grid_latitude", "grid_longitude", "grid_distance_km"}
"""Repetitive non-string columns worth a Parquet dictionary (few distinct values, long runs).
Not the lead/time columns: hashing millions of them costs more than zstd on their runs."""
SPLIT_COLUMNS = {"lead_hours"}
"""float64 columns written byte-stream-split (with zstd: half the time of a dictionary)."""


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


def parquet_bytes(table: pa.Table, kind: ArtifactKind, target_rows: int | None = None) -> bytes:
    """Parquet bytes, zstd, row groups packing whole points (whole leads for map_summary);
    column statistics only on the columns readers filter on (keeps footers small).

    ``target_rows`` defaults to ``ROW_GROUP_TARGET_ROWS`` (read at call time). Each row group
    is written from its ``canonical`` form, so the bytes depend on the rows alone.

    Encodings: dictionary pages for strings (each row group's dictionary holds the values it
    uses, taken from the dictionary arrays without re-hashing) and for the repetitive
    ``DICTIONARY_COLUMNS``; byte-stream-split for float32
    values (compresses better under zstd) and ``SPLIT_COLUMNS``; plain for the rest (zstd
    absorbs constant and repeating columns faster than a dictionary would). The Arrow schema is
    not stored, so every reader gets the contract's plain types (string, not dictionary)
    whatever the in-memory encoding was.
    """
    validate_table(table, kind)
    group_column = "lead_hours" if kind == "map_summary" else "point_id"
    sink = io.BytesIO()
    stats = [name for name in STATISTICS_COLUMNS[kind] if name in table.schema.names]
    dictionary, split = [], {}
    for field in table.schema:
        if pa.types.is_dictionary(field.type) or field.type == pa.string() or field.name in DICTIONARY_COLUMNS:
            dictionary.append(field.name)
        elif field.type == pa.float32() or field.name in SPLIT_COLUMNS:
            split[field.name] = "BYTE_STREAM_SPLIT"
    with pq.ParquetWriter(
        sink, encoded_strings(table.schema), compression="zstd", write_statistics=stats, use_dictionary=dictionary,
        column_encoding=split or None, store_schema=False, write_batch_size=WRITE_BATCH_ROWS,
    ) as writer:  # fmt: skip
        prepared, offset = CanonicalTable.of(table), 0
        for length in row_groups(_group_runs(table[group_column]), target_rows or ROW_GROUP_TARGET_ROWS):
            writer.write_table(prepared.rows(offset, length), row_group_size=length)
            offset += length
        if table.num_rows == 0:
            writer.write_table(canonical(table))
    return sink.getvalue()


def merge_points(
    previous: pa.Table, new: pa.Table, kind: ArtifactKind, replaced: set[str], current: set[str] | None = None
) -> pa.Table:
    """``previous`` without the ``replaced`` point ids (and, if ``current`` is given, without
    points no longer in it, e.g. deleted or disabled since), plus ``new``, in contract order."""
    new = decoded(new)
    keep = pc.invert(pc.is_in(previous["point_id"], value_set=strings(sorted(replaced))))
    if current is not None:
        keep = pc.and_(keep, pc.is_in(previous["point_id"], value_set=strings(sorted(current))))
    kept = previous.filter(keep).select(new.schema.names).cast(new.schema)
    return sort_table(pa.concat_tables([kept, new]), kind)
