"""forecast_panel.open_store: the public exploration API, on the demo-like store the notebooks use."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import forecast_panel as fp
from forecast_core import layout
from forecast_core.points import Point
from forecast_core.store import ArtifactStore
from forecast_panel.data import ArtifactIntegrityError, DataStore
from forecast_panel.state import OverviewState
from forecast_panel.views.meteogram import _same_data

pytestmark = [pytest.mark.xdist_group("notebooks"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]
PLACE = "Boulder Flatirons"


@pytest.fixture
def store(demo_like_store: Path) -> fp.ForecastStore:
    return fp.open_store(str(demo_like_store))


def test_catalog_lists_what_the_latest_run_published(store: fp.ForecastStore) -> None:
    sources = store.sources()
    assert list(sources["source_id"]) == [entry.source_id for entry in store.registry().sources]
    assert sources.set_index("source_id").loc["gefs", "is_partial"]
    variables = store.variables().set_index("variable_id")
    assert variables.loc["precipitation_total", "kind"] == "running total" and variables["published"].all()
    points = store.points()
    assert set(points["point_id"]) == set(store.manifest().point_ids) and points["has_forecast"].all()
    inits = store.inits("gefs", "temperature_2m")
    assert len(inits) == 2 and inits["init_date"].iloc[0] - inits["init_date"].iloc[1] == timedelta(days=1)
    runs = store.runs()
    assert len(runs) == 2 and runs["previous_run_id"].iloc[0] == runs["run_id"].iloc[1]
    assert len(store.artifacts()) == len(store.manifest().artifacts)
    assert len(store.inventory_history()) == 2 and store.status().outcome == "success"


def test_points_are_found_by_name_id_or_lookalike(store: fp.ForecastStore) -> None:
    assert store.point("boulder-flatirons").point_name == PLACE
    assert store.point("  BOULDER  flatırons ").point_id == "boulder-flatirons"  # dotless ı folds to i
    with pytest.raises(fp.NotInStore, match="Aspen Cabin"):
        store.point("Nowhere")


def test_frames_are_the_published_rows_in_units_and_zone(store: fp.ForecastStore, demo_like_store: Path) -> None:
    reference = DataStore(str(demo_like_store)).members("gefs", "temperature_2m", "boulder-flatirons")
    native = store.members(PLACE, "temperature_2m", sources="gefs")
    assert native["value"].equals(reference["value"]) and set(native["units"]) == {"degC"}
    fahrenheit = store.members(PLACE, "temperature_2m", sources="gefs", units="degF", tz="America/Denver")
    np.testing.assert_allclose(fahrenheit["value"], native["value"].astype("float64") * 9 / 5 + 32, atol=1e-9)
    local = fahrenheit["valid_local"]
    assert str(local.dt.tz) == "America/Denver"
    assert (local.dt.tz_convert("UTC") == fahrenheit["valid_time"]).all()
    both = store.summary(PLACE, "temperature_2m")
    assert list(dict.fromkeys(both["source_id"])) == ["gefs", "ecmwf_ifs_ens"]
    newest, previous = store.inits("gefs", "temperature_2m")["init_date"]
    older = store.summary(PLACE, "temperature_2m", sources="gefs", init="previous")
    assert set(older["init_time"].dt.date) == {previous} and previous < newest


def test_exceedance_counts_the_members_above_the_threshold(store: fp.ForecastStore) -> None:
    members = store.members(PLACE, "temperature_2m", sources="gefs").dropna(subset=["value"])
    threshold = float(members["value"].median())
    expected = members.groupby("valid_time")["value"].apply(lambda values: (values > threshold).mean() * 100)
    found = store.exceedance(PLACE, "temperature_2m", threshold, sources="gefs").set_index("valid_time")
    pd.testing.assert_series_equal(found["probability"], expected, check_names=False)
    assert set(found["units"]) == {"degC"}


def test_dataset_is_members_by_valid_time(store: fp.ForecastStore) -> None:
    ds = store.dataset(PLACE, "temperature_2m", "ecmwf_ifs_ens", units="degF", tz="America/Denver")
    members = store.members(PLACE, "temperature_2m", sources="ecmwf_ifs_ens", units="degF")
    assert dict(ds["temperature_2m"].sizes) == {"member": 5, "valid_time": members["lead_hours"].nunique()}
    assert ds["temperature_2m"].attrs["units"] == "degF" and ds.attrs["point_id"] == "boulder-flatirons"
    assert ds["valid_local"].attrs["tz"] == "America/Denver"
    first = members[members["ensemble_member"] == 0].sort_values("lead_hours")["value"].to_numpy()
    np.testing.assert_allclose(ds["temperature_2m"].sel(member=0).values, first.astype("float32"))
    assert set(store.datasets(PLACE, "precipitation")) == {"gefs", "ecmwf_ifs_ens"}
    with pytest.raises(ValueError, match="name a source"):
        store.dataset(PLACE)


def test_meteogram_is_the_dashboards_own_overview(store: fp.ForecastStore) -> None:
    import panel as pn
    from bokeh.plotting import figure

    from forecast_panel.views.overview import OverviewView

    layout_ = store.meteogram(PLACE, "precipitation", units="in", members=True, previous=True)
    figures = [pane.object for pane in layout_.select(pn.pane.Bokeh)]
    main = next(item for item in figures if "fp-main-plot" in item.css_classes)
    assert isinstance(main, figure) and main.title.text.startswith(PLACE) and "(in)" in main.title.text
    app_state = OverviewState(store.datastore)
    app_state.param.update(point_id="boulder-flatirons", variable="precipitation")
    app_state.param.update(units="in", show_members=True, compare_previous=True)
    app_view = OverviewView(app_state)
    drawn = [renderer.data_source.data for item in figures for renderer in item.renderers]
    for name in ("boxes", "members", "previous", "exceedance"):
        expected = app_view.meteogram.sources[name].data
        assert len(next(iter(expected.values()))), f"the app draws no {name} here"
        assert any(_same_data(data, expected) for data in drawn), name
    with_controls = store.meteogram(PLACE, controls=True)
    assert with_controls.select(pn.widgets.Select)


def test_meteogram_choices_are_checked(store: fp.ForecastStore) -> None:
    with pytest.raises(ValueError, match="degC"):
        store.meteogram(PLACE, "temperature_2m", units="mm")
    with pytest.raises(fp.NotInStore, match="temperature_2m"):
        store.meteogram(PLACE, "temp")
    with pytest.raises(ValueError, match="view is one of"):
        store.meteogram(PLACE, view="violins")


def test_hvplot_plots_render_to_bokeh(store: fp.ForecastStore) -> None:
    import holoviews as hv

    boxes = store.boxplot(PLACE, "temperature_2m", units="degF", tz="America/Denver", days=2)
    assert [type(item).__name__ for item in boxes] == ["BoxWhisker", "BoxWhisker"]
    leads = store.members(PLACE, "temperature_2m", sources="gefs").query("lead_hours <= 48")["lead_hours"].nunique()
    assert len(boxes[0].data["valid"].unique()) == leads
    chance = store.exceedance_plot(PLACE, "precipitation", 0.5)
    assert len(chance) == 2
    area = store.map("temperature_2m", source="ecmwf_ifs_ens", units="degF")
    cells = area.get(0)
    assert type(cells).__module__.startswith("geoviews") and cells.data["median"].notna().any()
    for plot in (boxes, chance, area):
        assert hv.render(plot) is not None


def test_reads_go_only_through_the_manifest(store: fp.ForecastStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_listing(*_: Any, **__: Any) -> None:
        raise AssertionError("the exploration API listed the store")

    monkeypatch.setattr(ArtifactStore, "list", no_listing)
    monkeypatch.setattr(ArtifactStore, "iter_keys", no_listing)
    read: list[str] = []
    original = ArtifactStore.read_bytes

    def recording(self: ArtifactStore, key: str) -> bytes:
        read.append(key)
        return original(self, key)

    monkeypatch.setattr(ArtifactStore, "read_bytes", recording)
    store.summary(PLACE, "precipitation", init="previous")
    store.members(PLACE, "snowfall_total")
    store.map("wind_speed_10m")
    store.runs()
    store.status(), store.inventory(), store.inventory_history()
    manifest = store.manifest()
    listed = {artifact.key for artifact in manifest.artifacts}
    fixed = {layout.LATEST_MANIFEST_KEY, layout.run_manifest_key(manifest.previous_run_id or manifest.run_id)}
    fixed |= {layout.EXTRACTION_STATUS_KEY, layout.INVENTORY_STATUS_KEY, layout.INVENTORY_HISTORY_KEY}
    fixed |= {layout.SOURCE_REGISTRY_KEY, layout.CANONICAL_VARIABLES_KEY, layout.PRE_CANNED_POINTS_KEY}
    assert read and set(read) <= listed | fixed
    assert set(read) & listed


def test_a_tampered_artifact_is_refused(demo_like_store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "store"
    shutil.copytree(demo_like_store, copy)
    tampered = fp.open_store(str(copy))
    key = tampered.manifest().artifact("gefs", "temperature_2m", "points").key
    (copy / key).write_bytes((copy / key).read_bytes() + b"\0")
    with pytest.raises(ArtifactIntegrityError):
        tampered.members(PLACE, "temperature_2m", sources="gefs")


def test_a_point_without_forecast_yet(demo_like_store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "store"
    shutil.copytree(demo_like_store, copy)
    artifacts = ArtifactStore(str(copy))
    configured = DataStore(str(copy)).configured_points()
    assert configured is not None
    first = configured.points[0]
    new = Point(**{**first.model_dump(), "point_id": "new-hut", "point_name": "New Hut"})
    artifacts.write_model(layout.PRE_CANNED_POINTS_KEY, configured.replace(points=[*configured.points, new]))
    pending = fp.open_store(str(copy))
    assert not pending.points().set_index("point_id").loc["new-hut", "has_forecast"]
    assert pending.members("New Hut").empty
    with pytest.raises(ValueError, match="no forecast yet"):
        pending.dataset("New Hut", "temperature_2m", "gefs")
    assert "forecast pending" in pending.meteogram("New Hut")[1].object


@pytest.mark.aws
def test_open_store_reads_an_s3_store(demo_like_store: Path, s3_bucket: str) -> None:
    import boto3

    client = boto3.client("s3")
    for path in demo_like_store.rglob("*"):
        if path.is_file():
            client.put_object(Bucket=s3_bucket, Key=str(path.relative_to(demo_like_store)), Body=path.read_bytes())
    remote = fp.open_store(f"s3://{s3_bucket}")
    local = fp.open_store(str(demo_like_store))
    assert remote.manifest() == local.manifest()
    pd.testing.assert_frame_equal(remote.members(PLACE, "precipitation"), local.members(PLACE, "precipitation"))


def test_the_api_loads_xarray_and_plotting_only_when_asked() -> None:
    code = (
        "import sys, forecast_panel as fp; fp.open_store; import forecast_panel.explore; "
        "print(','.join(m for m in ('xarray', 'extraction', 'dask', 'hvplot', 'geoviews') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
