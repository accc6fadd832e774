"""An artifact's rows of one point as shared, read-only numpy columns (converted once per process)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import pyarrow as pa

from forecast_panel.frames import STAT_COLUMNS, Table

SUMMARY_READ = ("init_time", "valid_time", "lead_hours", *STAT_COLUMNS, "member_count", "is_ingested")
MEMBERS_READ = ("init_time", "valid_time", "lead_hours", "ensemble_member", "value")


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
