"""Sample sources look exactly like dynamical.org's stores (checked against the templates)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import zarr

from extraction.sample_sources import synthetic
from extraction.sample_sources.cli import write_samples
from extraction.sample_sources.templates import GEFS_DATASET_ID, IFS_ENS_DATASET_ID, array_metadata, root_attributes
from extraction.sources import open_source
from forecast_core.registry import SourceRegistry
from tests.conftest import SAMPLE_NEWEST_INIT

EXPECTED_DIMS = {
    GEFS_DATASET_ID: ("init_time", "ensemble_member", "lead_time", "latitude", "longitude"),
    IFS_ENS_DATASET_ID: ("init_time", "lead_time", "ensemble_member", "latitude", "longitude"),
}


def _registry(folder: Path) -> SourceRegistry:
    return SourceRegistry.model_validate_json((folder / "source_registry.json").read_bytes())


def _zarr_group(entry_url: str, store_format: str) -> zarr.Group:
    if store_format == "icechunk":
        import icechunk

        repo = icechunk.Repository.open(icechunk.local_filesystem_storage(entry_url))
        return zarr.open_group(repo.readonly_session("main").store, mode="r")
    return zarr.open_group(entry_url, mode="r")


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _lists(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(item) for item in value]
    return value


def _comparable(meta: dict[str, Any]) -> dict[str, Any]:
    return {key: _lists(value) for key, value in meta.items() if key not in {"shape", "attributes"}}


@pytest.fixture(scope="module")
def zarr_samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zarr-samples")
    write_samples(str(out), size="tiny", newest_init=SAMPLE_NEWEST_INIT, store_format="zarr")
    return out


@pytest.mark.parametrize("store_format", ["icechunk", "zarr"])
def test_array_metadata_matches_templates(store_format: str, tiny_samples: Path, zarr_samples: Path) -> None:
    folder = tiny_samples if store_format == "icechunk" else zarr_samples
    for entry in _registry(folder).sources:
        group = _zarr_group(entry.location.url, store_format)  # type: ignore[union-attr]
        assert dict(group.attrs) == root_attributes(entry.dataset_id)
        template = array_metadata(entry.dataset_id)
        stored_names = {name for name, _ in group.arrays()}
        assert stored_names == set(template), f"{entry.dataset_id}: array names differ"
        for name, expected in template.items():
            array = group[name]
            assert isinstance(array, zarr.Array)
            actual = array.metadata.to_dict()
            assert _comparable(actual) == _comparable(expected), name
            assert dict(array.attrs) == expected["attributes"], name
            for dim, template_len, stored_len in zip(
                expected.get("dimension_names") or [], expected["shape"], actual["shape"], strict=True
            ):
                if dim not in {"init_time", "ensemble_member"}:
                    assert template_len == stored_len, (name, dim)


def test_xarray_sees_real_dims_coords_and_encodings(tiny_samples: Path) -> None:
    for entry in _registry(tiny_samples).sources:
        ds = open_source(entry)
        dims = EXPECTED_DIMS[entry.dataset_id]
        for name in ("temperature_2m", "precipitation_surface", "wind_u_10m", "wind_v_10m"):
            assert ds[name].dims == dims
            assert ds[name].dtype == np.float32
            encoding = ds[name].encoding
            assert encoding["shards"] is not None and encoding["chunks"] != encoding["shards"]
            assert np.isnan(encoding["fill_value"])
        assert ds.sizes["init_time"] == 2
        assert np.issubdtype(ds.lead_time.dtype, np.timedelta64)
        assert ds.latitude.values[0] == 90.0 and ds.latitude.values[-1] == -90.0
        assert ds.longitude.values[0] == -180.0 and ds.longitude.values[-1] == 179.75
        assert (ds.init_time.dt.hour == 0).all()
        assert ds.precipitation_surface.attrs["units"] == "kg m-2 s-1"
        lead_hours = ds.lead_time.values / np.timedelta64(1, "h")
        expected_last = 840 if entry.source_id == "gefs" else 360
        assert lead_hours[-1] == expected_last


def test_newest_gefs_init_is_partial(tiny_samples: Path) -> None:
    ds = open_source(_registry(tiny_samples).get("gefs"))
    ingested = ds.ingested_forecast_length.values / np.timedelta64(1, "h")
    assert ingested.shape == (2, 5)
    assert (ingested[0] == 840).all() and (ingested[1] == 384).all()
    point = ds.temperature_2m.sel(latitude=39.5, longitude=-106.0).load()
    lead_hours = ds.lead_time.values / np.timedelta64(1, "h")
    newest, previous = point.isel(init_time=1).values, point.isel(init_time=0).values
    assert np.isnan(newest[:, lead_hours > 384]).all()
    assert np.isfinite(newest[:, lead_hours <= 384]).all()
    assert np.isfinite(previous).all()
    ifs = open_source(_registry(tiny_samples).get("ecmwf_ifs_ens"))
    assert (ifs.ingested_forecast_length.values / np.timedelta64(1, "h") == 360).all()


def test_values_are_plausible(tiny_samples: Path) -> None:
    ds = open_source(_registry(tiny_samples).get("gefs"))
    cell = ds.sel(latitude=39.5, longitude=-106.0).isel(init_time=0).load()
    temperature = cell.temperature_2m.values
    assert np.nanmin(temperature) > -45 and np.nanmax(temperature) < 40
    spread = np.nanstd(temperature, axis=0)
    assert spread[-20:].mean() > 2 * spread[:8].mean(), "spread grows with lead time"
    rate = cell.precipitation_surface.values
    assert np.isnan(rate[:, 0]).all(), "no precipitation step at lead 0"
    assert (rate[:, 1:] >= 0).all() and (rate[:, 1:] == 0).mean() > 0.2, "intermittent, non-negative"
    snow = cell.categorical_snow_surface.values
    assert set(np.unique(snow[:, 1:81])) <= {0.0, 1.0}
    outside = ds.temperature_2m.sel(latitude=0.0, longitude=0.0).isel(init_time=0).load()
    assert np.isnan(outside.values).all(), "outside the sample region the store holds no data"


def test_generation_is_deterministic() -> None:
    grid = synthetic.FieldGrid(
        init_epoch_seconds=1_764_028_800,
        lead_hours=np.arange(0, 49, 3, dtype=float),
        latitude=np.array([40.0, 39.75]),
        longitude=np.array([-106.0]),
        member_count=3,
    )
    first = synthetic.generate_fields(grid, seed=7, day_of_year=329)
    second = synthetic.generate_fields(grid, seed=7, day_of_year=329)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])


def test_mantissa_rounding_keeps_relative_error_small() -> None:
    values = np.random.default_rng(0).normal(size=1000).astype(np.float32)
    rounded = synthetic.keep_mantissa_bits(values, 7)
    assert np.max(np.abs(rounded - values) / np.abs(values)) <= 2.0**-8
    assert isinstance(xr.DataArray(rounded), xr.DataArray)
