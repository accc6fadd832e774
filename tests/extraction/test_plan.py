"""Planning on coordinates only: init choice, point cells (0…360, antimeridian, outside), tiles,
and the retry policy of tile reads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import xarray as xr
from botocore.exceptions import ClientError

from extraction.plan import NoInitWithData, choose_init, map_points, map_region, plan_tiles
from extraction.tiles import read_block as read_tile_block
from forecast_core.grid import DYNAMICAL_QUARTER_DEGREE, GridSpec
from tests.extraction.conftest import make_point

HOUR = np.timedelta64(3600, "s")


def _dataset(ingested_hours: list[list[float]]) -> xr.Dataset:
    inits = np.array(["2026-11-22", "2026-11-23", "2026-11-24"], dtype="datetime64[ns]")
    leads = np.arange(0, 13, 3) * HOUR
    ingested = np.array(
        [[np.timedelta64("NaT", "s") if np.isnan(h) else int(h) * HOUR for h in row] for row in ingested_hours],
        dtype="timedelta64[s]",
    )
    return xr.Dataset(
        coords={
            "init_time": inits,
            "lead_time": leads,
            "ensemble_member": np.arange(2),
            "ingested_forecast_length": (("init_time", "ensemble_member"), ingested),
            "expected_forecast_length": ("init_time", np.full(3, 12) * HOUR),
        }
    )


def test_newest_init_with_data_and_partial_flag() -> None:
    ds = _dataset([[12, 12], [12, 12], [6, 3]])
    choice = choose_init(ds)
    assert choice.index == 2 and choice.init_time == datetime(2026, 11, 24, tzinfo=UTC)
    assert choice.is_partial and choice.ingested_lead_hours == 6.0
    assert choice.ingested_seconds.tolist() == [6 * 3600.0, 3 * 3600.0]
    empty_newest = _dataset([[12, 12], [12, 12], [np.nan, np.nan]])
    previous = choose_init(empty_newest)
    assert previous.index == 1 and not previous.is_partial
    assert choose_init(ds, datetime(2026, 11, 22, tzinfo=UTC)).index == 0
    with pytest.raises(NoInitWithData):
        choose_init(_dataset([[np.nan] * 2] * 3))


def test_point_cells_for_0_360_antimeridian_and_outside() -> None:
    points = [
        make_point("east", 39.6, 253.7),  # 0…360 input
        make_point("west", 39.6, -106.3),
        make_point("dateline", -17.0, 179.9),  # nearer −180 round the globe, but xarray gives the edge
    ]
    mapped, outside = map_points(DYNAMICAL_QUARTER_DEGREE, points)
    assert not outside
    east, west, dateline = (m.cell for m in mapped)
    assert (east.latitude_index, east.longitude_index) == (west.latitude_index, west.longitude_index)
    assert east.longitude == pytest.approx(-106.25) and east.latitude == pytest.approx(39.5)
    assert dateline.longitude_index == 1439 and dateline.longitude == 179.75 and dateline.distance_km < 16
    regional = GridSpec(
        latitude_first=41.5, latitude_step=-0.25, latitude_count=21,
        longitude_first=-109.5, longitude_step=0.25, longitude_count=25,
    )  # fmt: skip
    mapped, outside = map_points(regional, [*points[:2], make_point("far", 45.0, -100.0)])
    assert [m.point.point_id for m in mapped] == ["east", "west"]
    assert [(p.point_id, "outside the grid" in reason) for p, reason in outside] == [("far", True)]


def test_points_are_grouped_by_chunk_tile_and_the_map_box_adds_tiles() -> None:
    grid = DYNAMICAL_QUARTER_DEGREE
    points = [make_point("a", 39.6, -106.3), make_point("b", 39.9, -106.9), make_point("c", 40.2, -103.2)]
    mapped, _ = map_points(grid, points)
    chunks = {"latitude": 17, "longitude": 16}
    tiles = plan_tiles(mapped, None, chunks, grid)
    by_tile = {(t.lat_chunk, t.lon_chunk): t.point_positions for t in tiles}
    for tile in tiles:
        assert tile.lat_stop - tile.lat_start == 17 and tile.lon_stop - tile.lon_start == 16
        for position in tile.point_positions:
            cell = mapped[position].cell
            assert tile.lat_start <= cell.latitude_index < tile.lat_stop
            assert tile.lon_start <= cell.longitude_index < tile.lon_stop
    assert sorted(p for positions in by_tile.values() for p in positions) == [0, 1, 2]
    leads = np.arange(0, 241, 3) * 3600.0
    region = map_region(grid, [m.cell for m in mapped], 1.0, leads, [24.0, 48.0, 999.0])
    assert region is not None and region.lead_indices == (8, 16)
    with_map = plan_tiles(mapped, region, chunks, grid)
    assert len(with_map) >= len(tiles)
    covered = {(r, c) for t in with_map for r in range(t.lat_start, t.lat_stop) for c in range(t.lon_start, t.lon_stop)}
    assert all(
        (r, c) in covered
        for r in (region.lat_start, region.lat_stop - 1)
        for c in (region.lon_start, region.lon_stop - 1)
    )


class _Flaky:
    """A stand-in source whose first reads fail like a throttled or dropped S3 connection."""

    def __init__(self, failures: int, error: Exception):
        import zarr

        self.failures = failures
        self.error = error
        self.calls = 0
        self.data = zarr.create_array(
            zarr.storage.MemoryStore(),
            data=np.arange(24, dtype=np.float32).reshape(1, 2, 3, 2, 2),
            dimension_names=("init_time", "ensemble_member", "lead_time", "latitude", "longitude"),
        )

    async def array(self, name: str) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return self.data._async_array


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")


def test_transient_read_errors_are_retried_and_permanent_ones_are_not() -> None:
    from extraction.source_io import run
    from extraction.tiles import TileJob

    def read_block(source: _Flaky, name: str, job: TileJob) -> npt.NDArray[np.float32]:
        return run(read_tile_block(source, name, job))

    job = TileJob(source=None, init_index=0, lat_start=0, lat_stop=2, lon_start=0, lon_stop=2, fields=("x",),  # type: ignore[arg-type]
                  variables=(), steps=np.zeros(3), ingested=np.ones((2, 3), bool), point_rows=(), point_cols=(),
                  map_box=None, map_leads=())  # fmt: skip
    flaky = _Flaky(2, TimeoutError("read timed out"))
    block = read_block(flaky, "x", job)
    assert flaky.calls == 3 and block.shape == (2, 3, 2, 2)
    missing = _Flaky(1, FileNotFoundError("NoSuchKey"))
    with pytest.raises(FileNotFoundError):
        read_block(missing, "x", job)
    assert missing.calls == 1
    slowdown = OSError(5, "Service Unavailable")  # how s3fs re-raises botocore's error: the cause decides
    slowdown.__cause__ = _client_error("SlowDown", 503)
    throttled = _Flaky(1, slowdown)
    assert read_block(throttled, "x", job).shape == (2, 3, 2, 2) and throttled.calls == 2
    denied = OSError(13, "Access Denied")
    denied.__cause__ = _client_error("AccessDenied", 403)
    forbidden = _Flaky(1, denied)
    with pytest.raises(OSError, match="Access Denied"):
        read_block(forbidden, "x", job)
    assert forbidden.calls == 1


def test_a_source_whose_grid_is_not_first_plus_i_times_step_is_refused(store_url: str, tmp_path: Path) -> None:
    """The nearest-cell rule is exact only on coordinates equal to first + i × step; a store with
    any other latitude is recorded as an error with the axis and value, and nothing is published."""
    import math

    import zarr

    from extraction.pipeline import RunOptions, run_extraction
    from extraction.sample_sources.cli import write_samples
    from forecast_core.layout import LATEST_MANIFEST_KEY
    from tests.conftest import SAMPLE_NEWEST_INIT
    from tests.extraction.conftest import seed

    samples = tmp_path / "samples"
    written = write_samples(str(samples), size="tiny", newest_init=SAMPLE_NEWEST_INIT, store_format="zarr",
                            dataset_ids=("noaa-gefs-forecast-35-day",))  # fmt: skip
    latitude = zarr.open_array(str(samples / "noaa-gefs-forecast-35-day.zarr" / "latitude"), mode="r+")
    latitude[3] = math.nextafter(float(latitude[3]), 0.0)
    store = seed(store_url, written.registry)
    options = RunOptions(store=store, scheduler="synchronous", progress=False, variables=["temperature_2m"])
    report = run_extraction(options)
    assert [(error.kind, error.source_id) for error in report.errors] == [("store_unreachable", "gefs")]
    assert "latitude coordinates are not a regular grid: value 3 is 89.24999999999999" in report.errors[0].message
    assert report.manifest is None and not store.exists(LATEST_MANIFEST_KEY)
