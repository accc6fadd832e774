"""The one nearest-cell rule (``forecast_core.grid``) equals xarray's ``sel(method="nearest")``.

Property tests (hypothesis, derandomized: the same examples on every run) on the real coordinate
arrays of both dynamical.org templates (committed under ``tests/fixtures/dynamical_coordinates``)
and on a 0…360, south-to-north grid and a regional ``np.arange`` grid: exact cell values, exact
halfway points and their float64 neighbours, the edges (±90, −180, 179.75…180, 0…360 input) and
anything in range. xarray is asked on the store's own convention (−180…180 here), which is
``longitude − 360`` for 0…360 input, an exact subtraction.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from fractions import Fraction
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extraction.plan import grid_spec, map_points
from forecast_core.grid import (
    DYNAMICAL_QUARTER_DEGREE,
    GridSpec,
    IrregularGrid,
    OutsideGrid,
    axis_value,
    nearest_cell,
)
from forecast_core.points import Point, normalize_longitude

FIXTURES = Path(__file__).parent / "fixtures" / "dynamical_coordinates"
AXES = ("latitude", "longitude")
DATASETS = ["noaa-gefs-forecast-35-day", "ecmwf-ifs-ens-forecast-15-day-0-25-degree"]
PROPERTY = settings(
    max_examples=800,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
WHEN = datetime(2026, 11, 1, tzinfo=UTC)


@cache
def template_axes(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """(latitude, longitude) float64 coordinate values of a template, decoded by zarr."""
    folder = FIXTURES / dataset
    latitude, longitude = (np.asarray(zarr.open_array(str(folder / name), mode="r")[:]) for name in AXES)
    return latitude, longitude


@cache
def template_grid(dataset: str) -> GridSpec:
    latitudes, longitudes = template_axes(dataset)
    return GridSpec.from_coordinates(latitudes.tolist(), longitudes.tolist())


class XarrayCells:
    """xarray's choice on given coordinates: a (latitude, longitude) array whose value is the
    flat index of its own cell, selected with ``sel(..., method="nearest")``."""

    def __init__(self, latitudes: np.ndarray, longitudes: np.ndarray):
        flat = np.arange(latitudes.size * longitudes.size, dtype=np.int32).reshape(latitudes.size, longitudes.size)
        self.columns = longitudes.size
        self.array = xr.DataArray(
            flat, dims=("latitude", "longitude"), coords={"latitude": latitudes, "longitude": longitudes}
        )

    def cell(self, latitude: float, longitude: float) -> tuple[int, int]:
        """(latitude index, longitude index) xarray selects (longitude in the store's convention)."""
        flat = int(self.array.sel(latitude=latitude, longitude=longitude, method="nearest"))
        row, column = divmod(flat, self.columns)
        return row, column


@cache
def template_cells(dataset: str) -> XarrayCells:
    return XarrayCells(*template_axes(dataset))


def nudged(value: float, ulps: int) -> float:
    """``value`` moved ``ulps`` float64 steps up (positive) or down (negative)."""
    for _ in range(abs(ulps)):
        value = math.nextafter(value, math.inf if ulps > 0 else -math.inf)
    return value


def targets(values: np.ndarray, low: float, high: float, edges: list[float]) -> st.SearchStrategy[float]:
    """Cell values, exact halfway points, both ± a few ulps, the edges and anything in [low, high]."""
    cell = st.integers(0, values.size - 1).map(lambda i: float(values[i]))
    halfway = st.integers(0, values.size - 2).map(lambda i: (float(values[i]) + float(values[i + 1])) / 2)
    near = st.tuples(st.one_of(cell, halfway), st.integers(-3, 3)).map(lambda pair: nudged(*pair))
    anything = st.floats(min_value=low, max_value=high, allow_nan=False)
    return st.one_of(cell, halfway, near, st.sampled_from(edges), anything).filter(lambda x: low <= x <= high)


def store_convention(longitude: float) -> float:
    """A −180…360 longitude as the −180…180 stores hold it; checked to be exact."""
    converted = longitude - 360.0 if longitude >= 180.0 else longitude
    assert Fraction(converted) == Fraction(longitude) - (360 if longitude >= 180.0 else 0)
    return converted


def point_at(latitude: float, longitude: float) -> Point:
    return Point(point_id="p", point_name="P", latitude=latitude, longitude=longitude, created_by="tests",
                 created_utc=WHEN, updated_utc=WHEN)  # fmt: skip


QUARTER_LATITUDES = 90.0 + np.arange(721) * -0.25
QUARTER_LONGITUDES = -180.0 + np.arange(1440) * 0.25
LATITUDE_INPUT = targets(QUARTER_LATITUDES, -90.0, 90.0, [-90.0, 90.0, -89.875, 89.875, 0.0, -0.0])
LONGITUDE_INPUT = st.one_of(
    targets(QUARTER_LONGITUDES, -180.0, 360.0, [-180.0, 179.75, 179.875, 180.0, 0.0, 359.75, 359.875, 360.0]),
    targets(QUARTER_LONGITUDES + 360.0, 180.0, 360.0, [180.0, 360.0]),  # 0…360 input for the western half
    st.floats(min_value=179.75, max_value=180.0),  # between the last column and the antimeridian
    st.floats(min_value=359.75, max_value=360.0),
)


@pytest.mark.parametrize("dataset", DATASETS)
def test_template_coordinates_are_the_quarter_degree_grid_exactly(dataset: str) -> None:
    latitudes, longitudes = template_axes(dataset)
    grid = GridSpec.from_coordinates(latitudes.tolist(), longitudes.tolist())
    assert grid == DYNAMICAL_QUARTER_DEGREE
    rebuilt = [axis_value(grid.latitude_first, grid.latitude_step, i) for i in range(grid.latitude_count)]
    assert rebuilt == latitudes.tolist() == QUARTER_LATITUDES.tolist()
    rebuilt = [axis_value(grid.longitude_first, grid.longitude_step, i) for i in range(grid.longitude_count)]
    assert rebuilt == longitudes.tolist() == QUARTER_LONGITUDES.tolist()


@pytest.mark.parametrize("dataset", DATASETS)
@PROPERTY
@given(latitude=LATITUDE_INPUT, longitude=LONGITUDE_INPUT)
def test_nearest_cell_equals_xarray_on_the_template_grid(dataset: str, latitude: float, longitude: float) -> None:
    latitudes, longitudes = template_axes(dataset)
    grid = template_grid(dataset)
    expected = template_cells(dataset).cell(latitude, store_convention(longitude))
    cell = nearest_cell(grid, latitude, longitude)
    assert (cell.latitude_index, cell.longitude_index) == expected
    assert (cell.latitude, cell.longitude) == (latitudes[expected[0]], longitudes[expected[1]])
    # the extraction maps the stored point (its longitude normalised on validation) to the same cell
    mapped, outside = map_points(grid, [point_at(latitude, longitude)])
    assert not outside
    assert (mapped[0].cell.latitude_index, mapped[0].cell.longitude_index) == expected


SOUTH_UP_LATITUDES = -90.0 + np.arange(721) * 0.25
EAST_LONGITUDES = 0.0 + np.arange(1440) * 0.25
SOUTH_UP_EAST = GridSpec.from_coordinates(SOUTH_UP_LATITUDES.tolist(), EAST_LONGITUDES.tolist())
SOUTH_UP_EAST_CELLS = XarrayCells(SOUTH_UP_LATITUDES, EAST_LONGITUDES)


@PROPERTY
@given(latitude=LATITUDE_INPUT, longitude=LONGITUDE_INPUT)
def test_nearest_cell_equals_xarray_on_a_0_360_grid_running_south_to_north(latitude: float, longitude: float) -> None:
    in_store = longitude + 360.0 if longitude < 0 else (0.0 if longitude == 360.0 else longitude)
    assert SOUTH_UP_EAST.grid_longitude(longitude) == in_store
    expected = SOUTH_UP_EAST_CELLS.cell(latitude, in_store)
    cell = nearest_cell(SOUTH_UP_EAST, latitude, longitude)
    assert (cell.latitude_index, cell.longitude_index) == expected
    assert cell.longitude == normalize_longitude(float(EAST_LONGITUDES[expected[1]]))


REGIONAL_LATITUDES = np.arange(41.5, 36.45, -0.1)  # north to south, a step np.arange rounds
REGIONAL_LONGITUDES = np.arange(-109.5, -103.45, 0.1)
REGIONAL = GridSpec.from_coordinates(REGIONAL_LATITUDES.tolist(), REGIONAL_LONGITUDES.tolist())
REGIONAL_CELLS = XarrayCells(REGIONAL_LATITUDES, REGIONAL_LONGITUDES)


@PROPERTY
@given(
    latitude=targets(REGIONAL_LATITUDES, 30.0, 50.0, [36.5, 41.5]),
    longitude=targets(REGIONAL_LONGITUDES, -115.0, -100.0, [-109.5, -103.5]),
)
def test_nearest_cell_on_a_regional_arange_grid(latitude: float, longitude: float) -> None:
    row, column = REGIONAL_CELLS.cell(latitude, longitude)
    far_off = (
        abs(REGIONAL_LATITUDES[row] - latitude) > abs(REGIONAL.latitude_step) / 2
        or abs(REGIONAL_LONGITUDES[column] - longitude) > abs(REGIONAL.longitude_step) / 2
    )
    if far_off:  # xarray would return the edge cell; the rule refuses a point beyond the grid
        with pytest.raises(OutsideGrid):
            nearest_cell(REGIONAL, latitude, longitude)
    else:
        cell = nearest_cell(REGIONAL, latitude, longitude)
        assert (cell.latitude_index, cell.longitude_index) == (row, column)


def test_ties_go_to_the_greater_value_and_nothing_wraps() -> None:
    grid = DYNAMICAL_QUARTER_DEGREE
    tie = nearest_cell(grid, 39.875, -105.125)  # halfway on both axes
    assert (tie.latitude, tie.longitude) == (40.0, -105.0)
    assert nearest_cell(grid, 39.875, 360 - 105.125).longitude_index == tie.longitude_index
    assert nearest_cell(grid, 10.0, 179.95).longitude == 179.75  # as xarray: no wrap to −180
    assert nearest_cell(grid, 10.0, 180.0).longitude == -180.0  # 180 is −180 in the store's convention
    assert nearest_cell(grid, -90.0, -180.0).latitude_index == 720
    with pytest.raises(OutsideGrid):
        nearest_cell(grid, 90.5, 0.0)
    with pytest.raises(OutsideGrid):
        nearest_cell(grid, 0.0, 360.5)


def test_irregular_coordinates_are_refused_with_the_axis_and_value() -> None:
    latitudes = QUARTER_LATITUDES.copy()
    latitudes[3] = math.nextafter(latitudes[3], 0.0)
    with pytest.raises(IrregularGrid, match=r"latitude coordinates are not a regular grid: value 3 "):
        GridSpec.from_coordinates(latitudes.tolist(), QUARTER_LONGITUDES.tolist())
    with pytest.raises(IrregularGrid, match="repeat"):
        GridSpec.from_coordinates([1.0, 1.0], [0.0])
    dataset = xr.Dataset(coords={"latitude": latitudes, "longitude": QUARTER_LONGITUDES})
    with pytest.raises(IrregularGrid):
        grid_spec(dataset)
    linspace = np.linspace(90.0, -90.0, 721)  # how the sample stores write latitude
    assert GridSpec.from_coordinates(linspace.tolist(), QUARTER_LONGITUDES.tolist()) == DYNAMICAL_QUARTER_DEGREE


def test_sample_stores_hold_the_quarter_degree_grid_exactly(tiny_samples: Path) -> None:
    from extraction.sources import open_source
    from forecast_core.init_store import load_registry_file

    for source in load_registry_file(tiny_samples / "source_registry.json").sources:
        assert grid_spec(open_source(source)) == DYNAMICAL_QUARTER_DEGREE, source.source_id
