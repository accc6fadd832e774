"""An artifact's rows of one point (forecast_panel.columns.point_rows) against pyarrow's filter."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from forecast_panel.columns import point_rows


def _artifacts(store: Path) -> list[Path]:
    return [path for path in sorted(store.rglob("*.parquet")) if "map_summary" not in path.name]


def test_a_points_rows_are_what_the_parquet_filter_returns(app_store: Path) -> None:
    artifacts = _artifacts(app_store)
    assert artifacts
    for path in artifacts:
        data = path.read_bytes()
        points = pq.read_table(pa.BufferReader(data), columns=["point_id"])["point_id"].unique().to_pylist()
        for point_id in [*points, "no-such-point"]:
            expected = pq.read_table(pa.BufferReader(data), filters=[("point_id", "==", point_id)])
            got = point_rows(data, point_id)
            assert got.schema == expected.schema and got.equals(expected), (path.name, point_id)


def test_a_points_rows_spread_over_row_groups_are_all_found(tmp_path: Path) -> None:
    table = pa.table({"point_id": ["a", "a", "b", "c", "c"], "value": [1.0, 2.0, 3.0, 4.0, 5.0]})
    path = tmp_path / "groups.parquet"
    pq.write_table(table, path, row_group_size=2)  # groups: a a | b c | c
    data = path.read_bytes()
    assert point_rows(data, "c")["value"].to_pylist() == [4.0, 5.0]
    assert point_rows(data, "a")["value"].to_pylist() == [1.0, 2.0]
    assert point_rows(data, "bb").num_rows == 0
    file = pq.ParquetFile(pa.BufferReader(data))
    assert file.metadata.num_row_groups == 3


@pytest.mark.parametrize("point_id", ["a", "z"])
def test_a_file_without_statistics_is_read_whole(tmp_path: Path, point_id: str) -> None:
    path = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"point_id": ["a", "z"], "value": [1.0, 2.0]}), path, write_statistics=False)
    assert point_rows(path.read_bytes(), point_id)["point_id"].to_pylist() == [point_id]
