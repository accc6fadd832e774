"""An artifact's rows of one point: read from its Parquet bytes (``point_rows``) and as shared,
read-only numpy columns (converted once per process)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from forecast_panel.frames import STAT_COLUMNS, Table

SUMMARY_READ = ("init_time", "valid_time", "lead_hours", *STAT_COLUMNS, "member_count", "is_ingested")
MEMBERS_READ = ("init_time", "valid_time", "lead_hours", "ensemble_member", "value")


def point_rows(data: pa.Buffer | bytes, point_id: str) -> pa.Table:
    """The rows of ``point_id`` in a Parquet artifact, in file order, with the file's schema: the
    table ``pq.read_table(..., filters=[("point_id", "==", point_id)])`` returns. Only the row
    groups whose ``point_id`` statistics may hold it are decoded, as that filter does, without
    the dataset set-up it costs on every call."""
    file = pq.ParquetFile(pa.BufferReader(data))
    column = file.schema_arrow.get_field_index("point_id")
    groups = [
        index
        for index in range(file.metadata.num_row_groups)
        if _may_hold(file.metadata.row_group(index).column(column).statistics, point_id)
    ]
    table = file.read_row_groups(groups)
    return table.filter(pc.equal(table["point_id"], point_id))


def _may_hold(statistics: Any, value: str) -> bool:
    if statistics is None or not statistics.has_min_max:
        return True
    low, high = statistics.min, statistics.max
    exact = getattr(statistics, "is_min_value_exact", True) and getattr(statistics, "is_max_value_exact", True)
    return not (exact and isinstance(low, str) and isinstance(high, str)) or low <= value <= high


_READ: OrderedDict[tuple[int, tuple[str, ...]], tuple[pa.Table, Table]] = OrderedDict()
_READ_LOCK = threading.Lock()
_READ_ITEMS = 512


def read_columns(table: pa.Table | None, names: Sequence[str]) -> Table:
    """The named columns of an Arrow table as read-only numpy arrays (absent ones left out): times
    as naive UTC ``datetime64[ns]``, numbers as float64, ``is_ingested`` as bool (null = False).

    The DataStore hands out one immutable table per (run, artifact, point); its columns are
    converted once per process and shared (remembered with the table, which keeps its ``id``)."""
    if table is None:
        return {}
    key = (id(table), tuple(names))
    with _READ_LOCK:
        found = _READ.get(key)
        if found is not None and found[0] is table:
            _READ.move_to_end(key)
            return dict(found[1])
    out = _convert(table, names)
    with _READ_LOCK:
        _READ[key] = (table, out)
        while len(_READ) > _READ_ITEMS:
            _READ.popitem(last=False)
    return dict(out)


def _convert(table: pa.Table, names: Sequence[str]) -> Table:
    out: Table = {}
    for name in names:
        if name not in table.column_names:
            continue
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            values = column.to_numpy().astype("datetime64[ns]")
        elif pa.types.is_boolean(column.type):
            values = column.fill_null(False).to_numpy().astype(bool)
        else:
            values = column.to_numpy().astype("float64")
        values.flags.writeable = False  # shared by the sessions that read the same rows
        out[name] = values
    return out
