"""The artifacts' Parquet files (pure: tables in, bytes out), and the merge of a published table.

Row groups pack whole points (or whole leads for the map) up to ~65 k rows, so a reader
filtering one point touches exactly one row group, and footers stay small at 1 000 points.
Equal tables encode to equal bytes whatever their in-memory form (``canonical``), so the
content-addressed keys of unchanged data stay the same from run to run.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

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


def _first_use_dictionary(array: pa.DictionaryArray) -> pa.Array:
    """``array`` with a dictionary of only the values its rows use, in the order of their
    first use (what ``dictionary_encode`` of the plain values gives)."""
    if len(array) == 0 or array.null_count:
        return array.cast(array.type.value_type).dictionary_encode()
    codes = _codes(array)
    run_codes = codes[_run_starts(codes)]
    _, first = np.unique(run_codes, return_index=True)
    used = run_codes[np.sort(first)]
    if len(used) == len(array.dictionary) and (used == np.arange(len(used))).all():
        return array
    renumbered = np.empty(len(array.dictionary), dtype=np.int32)
    renumbered[used] = np.arange(len(used), dtype=np.int32)
    return pa.DictionaryArray.from_arrays(column(renumbered[codes]), array.dictionary.take(column(used)), safe=False)


def canonical(table: pa.Table) -> pa.Table:
    """The same rows in the one in-memory form the Parquet bytes are written from: one chunk
    per column, every string column a dictionary array (int32 codes) holding only the values
    its rows use, in order of first use. Equal tables then encode to equal bytes however they
    were built (dictionary or plain strings, sliced, merged with a published table or read
    back from one)."""
    arrays = []
    for chunked in table.columns:
        array = _one_chunk(chunked)
        if array.type == pa.string():
            array = pc.dictionary_encode(array)
        arrays.append(_first_use_dictionary(array) if pa.types.is_dictionary(array.type) else array)
    return pa.table(arrays, schema=encoded_strings(table.schema))


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
        offset = 0
        for length in row_groups(_group_runs(table[group_column]), target_rows or ROW_GROUP_TARGET_ROWS):
            writer.write_table(canonical(table.slice(offset, length)), row_group_size=length)
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
