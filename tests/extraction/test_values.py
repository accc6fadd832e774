"""Every published number against an independent numpy computation on the tiny sample stores.

The expected values read the stores with plain xarray (``sel(..., method="nearest")`` per point)
and apply the derivations with numpy directly; the pipeline reads whole chunk tiles and uses
``extraction.derive``. One run (in-process scheduler) is shared by the module.
"""

from __future__ import annotations

import dataclasses
import io
import warnings
from pathlib import Path

import icechunk
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import xarray as xr

from extraction import parquet_files
from extraction.parquet_files import parquet_bytes
from extraction.pipeline import RunOptions, RunReport, run_extraction
from forecast_core.registry import IcechunkLocation, SourceRegistry
from forecast_core.status import RunManifest
from forecast_core.store import ArtifactStore
from tests.extraction.conftest import POINTS, row_groups_per_point, seed

INSIDE = [p for p in POINTS if p[0] != "far-away"]


@pytest.fixture(scope="module")
def published(
    tiny_registry: SourceRegistry, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ArtifactStore, RunReport]:
    store = seed(str(tmp_path_factory.mktemp("values") / "store"), tiny_registry)
    report = run_extraction(RunOptions(store=store, scheduler="synchronous", progress=False))
    return store, report


def _open(registry: SourceRegistry, source_id: str) -> xr.Dataset:
    location = registry.get(source_id).location
    assert isinstance(location, IcechunkLocation)
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(location.url))
    session = repo.readonly_session(branch="main")
    return xr.open_zarr(session.store, consolidated=False, decode_timedelta=True)


def _series(ds: xr.Dataset, name: str, lat: float, lon: float) -> np.ndarray:
    """(member, lead) at the nearest cell of the newest init, read point by point."""
    lon180 = ((lon + 180.0) % 360.0) - 180.0
    da = ds[name].isel(init_time=-1).sel(latitude=lat, longitude=lon180, method="nearest")
    return da.transpose("ensemble_member", "lead_time").values.astype(np.float64)


def _expected(ds: xr.Dataset, source_id: str, variable_id: str, lat: float, lon: float) -> np.ndarray:
    leads = ds["lead_time"].values.astype("timedelta64[s]").astype(np.float64)
    steps = np.concatenate([[np.nan], np.diff(leads)])
    ingested = ds["ingested_forecast_length"].isel(init_time=-1).values.astype("timedelta64[s]").astype(np.float64)
    ingested = np.broadcast_to(np.atleast_1d(ingested), (ds.sizes["ensemble_member"],))
    precip = _series(ds, "precipitation_surface", lat, lon) * steps[None, :]
    if variable_id.startswith("snowfall"):
        if source_id == "gefs":
            snow = np.clip(_series(ds, "categorical_snow_surface", lat, lon), 0.0, 1.0)
        else:
            codes = _series(ds, "categorical_precipitation_type_surface", lat, lon)
            snow = np.where(np.isnan(codes), np.nan, np.isin(codes, [5, 6, 7]).astype(float))
        precip = precip * snow
    if variable_id == "temperature_2m":
        return _series(ds, "temperature_2m", lat, lon)
    if variable_id == "wind_speed_10m":
        return np.sqrt(_series(ds, "wind_u_10m", lat, lon) ** 2 + _series(ds, "wind_v_10m", lat, lon) ** 2)
    if variable_id.endswith("_total"):
        totals = np.cumsum(np.nan_to_num(precip, nan=0.0), axis=1)
        return np.where(leads[None, :] <= ingested[:, None], totals, np.nan)
    return precip


def _table(store: ArtifactStore, manifest: RunManifest, source_id: str, variable_id: str, kind: str):  # type: ignore[no-untyped-def]
    artifact = manifest.artifact(source_id, variable_id, kind)  # type: ignore[arg-type]
    assert artifact is not None, (source_id, variable_id, kind)
    return pq.read_table(io.BytesIO(store.read_bytes(artifact.key)))


VARIABLES = ["temperature_2m", "precipitation", "precipitation_total", "snowfall", "snowfall_total", "wind_speed_10m"]


@pytest.mark.parametrize("source_id", ["gefs", "ecmwf_ifs_ens"])
def test_points_and_summaries_match_numpy(
    published: tuple[ArtifactStore, RunReport], tiny_registry: SourceRegistry, source_id: str
) -> None:
    store, report = published
    assert report.manifest is not None
    ds = _open(tiny_registry, source_id)
    members = ds.sizes["ensemble_member"]
    leads = ds.sizes["lead_time"]
    for variable_id in VARIABLES:
        points = _table(store, report.manifest, source_id, variable_id, "points").to_pandas()
        summary = _table(store, report.manifest, source_id, variable_id, "ensemble_summary").to_pandas()
        assert sorted(points["point_id"].unique()) == sorted(p[0] for p in INSIDE)
        for point_id, lat, lon in INSIDE:
            rows = points[points["point_id"] == point_id]
            assert len(rows) == members * leads
            got = rows["value"].to_numpy().reshape(leads, members).T
            expected = _expected(ds, source_id, variable_id, lat, lon)
            np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-5, equal_nan=True, err_msg=variable_id)
            box = summary[summary["point_id"] == point_id]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                quantiles = np.nanquantile(expected, [0.1, 0.25, 0.5, 0.75, 0.9], axis=0)
                low, high = np.nanmin(expected, axis=0), np.nanmax(expected, axis=0)
            for name, values in zip(["q10", "q25", "median", "q75", "q90"], quantiles, strict=True):
                np.testing.assert_allclose(box[name], values, rtol=2e-6, atol=1e-5, equal_nan=True)
            np.testing.assert_allclose(box["min"], low, rtol=2e-6, atol=1e-5, equal_nan=True)
            np.testing.assert_allclose(box["max"], high, rtol=2e-6, atol=1e-5, equal_nan=True)
            assert box["member_count"].tolist() == np.isfinite(expected).sum(axis=0).tolist()
            assert (rows["units_native"] == ("degC" if variable_id == "temperature_2m" else
                                            "m/s" if variable_id == "wind_speed_10m" else "mm")).all()  # fmt: skip


def test_longitude_0_360_maps_to_the_same_cell(published: tuple[ArtifactStore, RunReport]) -> None:
    store, report = published
    assert report.manifest is not None
    summary = _table(store, report.manifest, "gefs", "temperature_2m", "ensemble_summary").to_pandas()
    bravo = summary[summary["point_id"] == "bravo-east"].iloc[0]
    assert bravo["grid_longitude"] == pytest.approx(-106.5)  # 253.6° E = −106.4°, nearest 0.25° cell
    assert bravo["grid_latitude"] == pytest.approx(40.0)
    assert 0 < bravo["grid_distance_km"] < 20


def test_points_sharing_a_cell_get_the_same_series_each(published: tuple[ArtifactStore, RunReport]) -> None:
    store, report = published
    assert report.manifest is not None
    for kind in ("points", "ensemble_summary"):
        table = _table(store, report.manifest, "gefs", "precipitation_total", kind).to_pandas()
        own = [c for c in ("point_id", "point_name", "grid_distance_km") if c in table]  # the point's, not the cell's
        alpha = table[table["point_id"] == "alpha"].drop(columns=own).reset_index(drop=True)
        cabin = table[table["point_id"] == "alpha-cabin"].drop(columns=own)
        assert len(alpha) > 0
        pd.testing.assert_frame_equal(alpha, cabin.reset_index(drop=True))


def test_partial_gefs_init_is_marked_and_not_filled(published: tuple[ArtifactStore, RunReport]) -> None:
    store, report = published
    assert report.manifest is not None
    gefs = next(info for info in report.manifest.sources if info.source_id == "gefs")
    ifs = next(info for info in report.manifest.sources if info.source_id == "ecmwf_ifs_ens")
    assert gefs.is_partial and gefs.ingested_lead_hours == 384.0 and gefs.expected_lead_hours == 840.0
    assert not ifs.is_partial and ifs.member_count == 5
    assert gefs.grid is not None and gefs.grid.latitude_count == 721
    assert gefs.snapshot_id and ifs.snapshot_id and gefs.snapshot_id != ifs.snapshot_id
    for kind, column in (("points", "value"), ("ensemble_summary", "median")):
        totals = _table(store, report.manifest, "gefs", "precipitation_total", kind).to_pandas()
        late, early = totals[totals["lead_hours"] > 384], totals[totals["lead_hours"] <= 384]
        assert late[column].isna().all() and early[column].notna().all()
    summary = _table(store, report.manifest, "gefs", "precipitation_total", "ensemble_summary").to_pandas()
    assert not summary.loc[summary["lead_hours"] > 384, "is_ingested"].any()
    assert summary.loc[summary["lead_hours"] <= 384, "is_ingested"].all()


def test_outside_point_is_an_all_nan_error_and_the_run_completes(published: tuple[ArtifactStore, RunReport]) -> None:
    _, report = published
    assert report.outcome == "partial" and report.exit_code == 1
    kinds = {(e.kind, e.point_id) for e in report.errors}
    assert kinds == {("all_nan", "far-away")}
    assert report.manifest is not None and len(report.manifest.artifacts) == 2 * len(VARIABLES) * 3


def test_each_point_is_in_one_row_group_and_map_summary(published: tuple[ArtifactStore, RunReport]) -> None:
    store, report = published
    assert report.manifest is not None
    artifact = report.manifest.artifact("ecmwf_ifs_ens", "precipitation_total", "points")
    assert artifact is not None
    data = store.read_bytes(artifact.key)
    assert row_groups_per_point(data) == dict.fromkeys(sorted(p[0] for p in INSIDE), 1)
    packed = parquet_bytes(pq.read_table(io.BytesIO(data)), "points", target_rows=2 * 5 * 85)
    assert pq.ParquetFile(io.BytesIO(packed)).metadata.num_row_groups == 2  # 2 + 1 points, never split
    assert row_groups_per_point(packed) == dict.fromkeys(sorted(p[0] for p in INSIDE), 1)
    maps = _table(store, report.manifest, "ecmwf_ifs_ens", "temperature_2m", "map_summary").to_pandas()
    assert set(maps["lead_hours"]) == {24.0, 48.0, 72.0, 120.0, 168.0, 240.0}
    assert (maps["member_count"] == 5).all() and (maps["q10"] <= maps["median"]).all()
    assert maps["latitude"].between(38.9, 40.6).all()  # cells with data only (the sample region)


def test_map_median_matches_numpy(published: tuple[ArtifactStore, RunReport], tiny_registry: SourceRegistry) -> None:
    store, report = published
    assert report.manifest is not None
    maps = _table(store, report.manifest, "gefs", "wind_speed_10m", "map_summary").to_pandas()
    row = maps[(maps["lead_hours"] == 48.0)].iloc[7]
    ds = _open(tiny_registry, "gefs")
    lead = list(ds["lead_time"].values.astype("timedelta64[h]").astype(int)).index(48)
    speed = _expected(ds, "gefs", "wind_speed_10m", row["latitude"], row["longitude"])[:, lead]
    assert row["median"] == pytest.approx(np.median(speed), rel=1e-5)
    assert row["q90"] == pytest.approx(np.quantile(speed, 0.9), rel=1e-5)


def test_status_and_log_written(published: tuple[ArtifactStore, RunReport], tmp_path: Path) -> None:
    store, report = published
    from forecast_core.layout import EXTRACTION_STATUS_KEY, extraction_log_key
    from forecast_core.status import ExtractionStatus

    status = store.read_model(EXTRACTION_STATUS_KEY, ExtractionStatus)
    assert status.run_id == report.run_id and status.outcome == "partial"
    assert status.sources_processed == ["ecmwf_ifs_ens", "gefs"]
    assert "precipitation_total" in status.variables_processed
    lines = store.read_bytes(extraction_log_key(report.run_id)).decode().splitlines()
    assert '"event":"published"' in "".join(lines) and '"snapshot"' in lines[1]


def test_map_of_a_running_total_matches_numpy(
    published: tuple[ArtifactStore, RunReport], tiny_registry: SourceRegistry
) -> None:
    store, report = published
    assert report.manifest is not None
    maps = _table(store, report.manifest, "ecmwf_ifs_ens", "precipitation_total", "map_summary").to_pandas()
    ds = _open(tiny_registry, "ecmwf_ifs_ens")
    hours = list(ds["lead_time"].values.astype("timedelta64[h]").astype(int))
    for lead_hours in (24.0, 240.0):
        row = maps[maps["lead_hours"] == lead_hours].iloc[11]
        totals = _expected(ds, "ecmwf_ifs_ens", "precipitation_total", row["latitude"], row["longitude"])
        at_lead = totals[:, hours.index(int(lead_hours))]
        assert row["median"] == pytest.approx(np.median(at_lead), rel=1e-5, abs=1e-6)
        assert row["q10"] == pytest.approx(np.quantile(at_lead, 0.1), rel=1e-5, abs=1e-6)


def test_rerunning_points_on_the_same_data_publishes_the_same_files(
    tiny_registry: SourceRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A points run merges the published tables (read back as plain strings) with its own
    dictionary-encoded rows; on the same data it must write the very same bytes, so the
    content-addressed keys of unchanged data stay (and readers' caches stay valid). One point
    per row group, so each row group's dictionary is a part of the table's."""
    monkeypatch.setattr(parquet_files, "ROW_GROUP_TARGET_ROWS", 1)
    store = seed(str(tmp_path / "store"), tiny_registry)
    options = RunOptions(store=store, scheduler="synchronous", progress=False, variables=["temperature_2m"])
    first = run_extraction(options)
    again = run_extraction(dataclasses.replace(options, point_ids=[INSIDE[1][0]]))
    assert first.manifest is not None and again.manifest is not None
    assert again.manifest.run_id != first.manifest.run_id
    keys = {a.key for a in first.manifest.artifacts}
    assert len(keys) == 6 and keys == {a.key for a in again.manifest.artifacts}  # 2 sources × 3 kinds
