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
from forecast_panel.localtime import zone_at
from forecast_panel.views.meteogram import same_data

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
    imperial = store.members(PLACE, "temperature_2m", sources="gefs", units="imperial")
    assert set(imperial["units"]) == {"degF"} and imperial["value"].equals(fahrenheit["value"])
    place = store.point(PLACE)  # without tz: the point's own zone, by the dashboard's rule
    assert store.zone(PLACE) == zone_at(place.latitude, place.longitude) == "America/Denver"
    assert str(native["valid_local"].dt.tz) == "America/Denver"
    assert str(store.members(PLACE, sources="gefs", tz="UTC")["valid_local"].dt.tz) == "UTC"
    assert set(store.summary(PLACE, "wind_speed_10m", sources="gefs", units="imperial")["units"]) == {"mph"}
    with pytest.raises(ValueError, match="unit system"):
        store.members(PLACE, "temperature_2m", units="mm")
    with pytest.raises(ValueError, match="unknown time zone"):
        store.members(PLACE, tz="Mars/Olympus")
    both = store.summary(PLACE, "temperature_2m")
    assert list(dict.fromkeys(both["source_id"])) == ["gefs", "ecmwf_ifs_ens"]
    newest, previous = store.inits("gefs", "temperature_2m")["init_date"]
    older = store.summary(PLACE, "temperature_2m", sources="gefs", init="previous")
    assert set(older["init_time"].dt.date) == {previous} and previous < newest


def test_exceedance_per_step_counts_the_members_above_the_threshold(store: fp.ForecastStore) -> None:
    members = store.members(PLACE, "temperature_2m", sources="gefs").dropna(subset=["value"])
    threshold = float(members["value"].median())
    expected = members.groupby("valid_time")["value"].apply(lambda values: (values > threshold).mean() * 100)
    found = store.exceedance(PLACE, "temperature_2m", threshold, sources="gefs", per="step").set_index("valid_time")
    pd.testing.assert_series_equal(found["probability"], expected, check_names=False)
    assert set(found["units"]) == {"degC"}


def _local_day_totals(members: pd.DataFrame) -> pd.DataFrame:
    """Each member's precipitation per local day (the steps ENDING in the day), by pandas alone,
    independently of ``daily``: days whose steps cover 24 hours, members with a value at each."""
    rows = members.sort_values(["ensemble_member", "lead_hours"])
    rows = rows.assign(step=rows.groupby("ensemble_member")["lead_hours"].diff()).dropna(subset=["step"])
    rows = rows.assign(day=(rows["valid_local"] - pd.Timedelta("1us")).dt.date, gap=rows["value"].isna())
    days = rows.groupby(["day", "ensemble_member"]).agg(
        total=("value", "sum"), hours=("step", "sum"), gap=("gap", "any")
    )
    return days[((days["hours"] - 24).abs() <= 1.5) & ~days["gap"]].reset_index()


def test_exceedance_per_day_is_the_meteograms_probability_strip(store: fp.ForecastStore) -> None:
    from forecast_panel.views.overview import meteogram

    found = store.exceedance(PLACE, "precipitation", 5.0)
    assert set(found["statistic"]) == {"daily sum"} and set(found["valid_local"].dt.hour) == {12}
    view = meteogram(store.datastore, "boulder-flatirons", precipitation_threshold=5.0)
    strip = view.current.strip
    labels = view.current.strip_axis.labels
    for index, source in enumerate(["GEFS", "ENS"]):
        row = next(y for y, label in labels.items() if label == f"Precipitation > 5 mm · {source}")
        cells = strip["y"] == row
        shown = pd.Series(strip["p"][cells], index=pd.DatetimeIndex(strip["x"][cells]).date)
        mine = found[found["source_id"] == store.source_ids()[index]].set_index("day")["probability"]
        pd.testing.assert_series_equal(mine, shown.astype("float64"), check_names=False, check_index_type=False)
    members = store.members(PLACE, "precipitation", sources="gefs")
    totals = _local_day_totals(members)
    expected = totals.groupby("day")["total"].apply(lambda values: (values > 5.0).mean() * 100)
    gefs = found[found["source_id"] == "gefs"].set_index("day")["probability"]
    pd.testing.assert_series_equal(gefs, expected, check_names=False, check_index_type=False)
    inches = store.exceedance(PLACE, "precipitation", 5.0 / 25.4, units="in")
    np.testing.assert_allclose(inches["probability"], found["probability"])


def test_daily_boxes_are_the_meteograms(store: fp.ForecastStore) -> None:
    from forecast_panel.views.overview import meteogram

    daily = store.daily(PLACE, "temperature_2m", sources="gefs")
    assert set(daily["statistic"]) == {"daily max"} and (daily["day"] == daily["valid_local"].dt.date).all()
    view = meteogram(store.datastore, "boulder-flatirons", panels=["temperature"], sources=["gefs"], boxes="daily")
    boxes = view.current.panels[0].days.columns
    highs = boxes["k"] == 0  # the source's first statistic (its second, the lows, is k = 1)
    np.testing.assert_allclose(boxes["median"][highs], daily["median"], rtol=1e-6)
    lows = store.daily(PLACE, "temperature_2m", sources="gefs", statistic="min")
    np.testing.assert_allclose(boxes["median"][boxes["k"] == 1], lows["median"], rtol=1e-6)
    with pytest.raises(ValueError, match="statistic is one of"):
        store.daily(PLACE, statistic="mean")  # type: ignore[arg-type]


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


def _sources(view: Any) -> list[Any]:
    """Every data source of a meteogram, in a fixed order."""
    drawn = view.meteogram
    per_panel = [
        source
        for figure in drawn.panels.values()
        for source in (figure.steps.source, figure.days.source, figure.members, figure.lines, figure.previous)
    ]
    return [*per_panel, drawn.missing, drawn.strip_source, drawn.legend, drawn.rows]


def test_meteogram_is_the_dashboards_own_viewer(store: fp.ForecastStore) -> None:
    import panel as pn

    from forecast_panel.views.overview import OverviewView, meteogram

    view = store.meteogram(PLACE, "precipitation", units="imperial", members=True, previous=True)
    assert isinstance(view, OverviewView) and view.state.point_name() == PLACE
    app = meteogram(
        store.datastore, "boulder-flatirons", panels=["precipitation"], units="imperial", extras=["members", "previous"]
    )
    assert [panel.panel_id for panel in view.current.panels] == ["precipitation"]
    assert view.current.panels[0].unit == "in" and view.current.zone == "America/Denver"
    assert view.selection.param.precipitation_threshold.names["0.19685 in"] == 5.0, "labels in the page's unit"
    for mine, apps in zip(_sources(view), _sources(app), strict=True):
        assert same_data(mine.data, apps.data)
    panel = view.current.panels[0]
    assert len(panel.members["x0"]) and len(panel.previous["x0"]), "member traces and the previous init drawn"
    assert store.meteogram(PLACE, times="utc").current.zone == "UTC"
    previous = store.inits("gefs", "temperature_2m")["init_date"].iloc[1].isoformat()
    assert store.meteogram(PLACE, sources="gefs", init="previous").selection.init == previous
    with_controls = store.meteogram(PLACE, controls=True)
    assert isinstance(with_controls, pn.Row) and with_controls.select(pn.widgets.Select)


def test_meteogram_choices_are_checked(store: fp.ForecastStore) -> None:
    with pytest.raises(ValueError, match="temperature_unit"):
        store.meteogram(PLACE, units="degF")  # a unit, not a unit system: the message says where it goes
    with pytest.raises(ValueError, match="panels: 'temperature', 'precipitation', 'wind'"):
        store.meteogram(PLACE, "temp")
    with pytest.raises(ValueError, match="boxes is one of 'auto', 'daily', 'steps'"):
        store.meteogram(PLACE, boxes="weekly")
    with pytest.raises(ValueError, match=r"is one of 1\.0, 5\.0, 10\.0, 25\.0 \(mm, the variable's native unit"):
        store.meteogram(PLACE, precipitation_threshold=3)
    with pytest.raises(ValueError, match="'colour' is not a meteogram choice"):
        store.meteogram(PLACE, colour="red")
    with pytest.raises(fp.NotInStore, match="no published source"):
        store.meteogram(PLACE, sources="ICON")
    with pytest.raises(ValueError, match="init is one of 'latest', '2026-"):
        store.meteogram(PLACE, init="1999-01-01")


def test_hvplot_plots_render_to_bokeh(store: fp.ForecastStore) -> None:
    import holoviews as hv

    boxes = store.boxplot(PLACE, "temperature_2m", units="imperial", days=2)
    assert [type(item).__name__ for item in boxes] == ["BoxWhisker", "BoxWhisker"]
    leads = store.members(PLACE, "temperature_2m", sources="gefs").query("lead_hours <= 48")["lead_hours"].nunique()
    assert len(boxes[0].data["valid"].unique()) == leads
    assert boxes[0].opts.get("plot").kwargs["xlabel"] == "valid time (America/Denver)"
    strip = store.exceedance_plot(PLACE, "precipitation", 5.0)
    assert [type(item).__name__ for item in strip] == ["HeatMap", "Labels"]
    assert set(strip.get(0).data["source"]) == {"GEFS", "ENS"}  # the strip's short names
    chance = store.exceedance_plot(PLACE, "precipitation", 0.5, per="step")
    assert len(chance) == 2
    area = store.map("temperature_2m", source="ecmwf_ifs_ens", units="degF")
    cells = area.get(0)
    assert type(cells).__module__.startswith("geoviews") and cells.data["median"].notna().any()
    for plot in (boxes, strip, chance, area):
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
    store.exceedance(PLACE, "wind_speed_10m", 10.0, units="imperial")
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
    assert "forecast pending" in pending.meteogram("New Hut").notes.object


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
