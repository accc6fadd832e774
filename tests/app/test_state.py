"""DataStore and param-class tests on a store written by the real pipeline (no browser)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from forecast_core import layout
from forecast_core.status import ExtractionStatus, RunManifest
from forecast_core.store import ArtifactStore
from forecast_panel.data import ArtifactIntegrityError, DataStore
from forecast_panel.state import LATEST, OverviewState
from forecast_panel.views.status import FreshnessThresholds, banner_text, freshness
from tests.app.conftest import HOSTILE_NAME, ROOT

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_summary_is_filtered_to_one_point_and_cached_per_run(app_store: Path) -> None:
    datastore = DataStore(str(app_store))
    manifest = datastore.manifest()
    assert manifest is not None and "boulder-flatirons" in manifest.point_ids
    frame = datastore.summary("gefs", "temperature_2m", "boulder-flatirons")
    assert not frame.empty
    assert set(frame["point_id"]) == {"boulder-flatirons"}
    assert frame["lead_hours"].is_monotonic_increasing
    reads = datastore.reads
    again = datastore.summary("gefs", "temperature_2m", "aspen-cabin")
    assert set(again["point_id"]) == {"aspen-cabin"}
    assert datastore.reads == reads, "a second point of the same artifact reuses the verified bytes"
    members = datastore.members("gefs", "temperature_2m", "boulder-flatirons")
    assert members["ensemble_member"].nunique() == manifest.sources[0].member_count


def test_sessions_get_their_own_frames_and_the_cache_keeps_only_arrow(app_store: Path) -> None:
    """A session's pandas views never attach to what the process keeps (see DataStore)."""
    datastore = DataStore(str(app_store))
    first = datastore.summary("gefs", "temperature_2m", "boulder-flatirons")
    views = [first["median"], first.assign(extra=1.0), first.iloc[:5]]
    second = datastore.summary("gefs", "temperature_2m", "boulder-flatirons")
    assert second is not first and second.equals(first)
    assert all(isinstance(table, pa.Table) for table in datastore._tables.items.values())
    first.loc[0, "median"] = -999.0  # the caller owns its frame
    third = datastore.summary("gefs", "temperature_2m", "boulder-flatirons")
    assert third["median"].iloc[0] == second["median"].iloc[0] != -999.0 and len(views) == 3


def test_checksum_mismatch_raises_after_a_retry(fresh_store: Path) -> None:
    store = ArtifactStore(str(fresh_store))
    manifest = store.read_model(layout.LATEST_MANIFEST_KEY, RunManifest)
    listed = manifest.artifact("gefs", "temperature_2m", "ensemble_summary")
    assert listed is not None
    store.write_bytes(listed.key, store.read_bytes(listed.key) + b"tampered")
    datastore = DataStore(str(fresh_store))
    with pytest.raises(ArtifactIntegrityError):
        datastore.summary("gefs", "temperature_2m", "boulder-flatirons")
    assert datastore.reads == 2


def test_new_run_id_drops_the_caches(fresh_store: Path) -> None:
    datastore = DataStore(str(fresh_store), manifest_ttl_seconds=0)
    datastore.summary("gefs", "temperature_2m", "boulder-flatirons")
    store = ArtifactStore(str(fresh_store))
    manifest = store.read_model(layout.LATEST_MANIFEST_KEY, RunManifest)
    newer = manifest.replace(run_id=layout.make_run_id(manifest.created_utc + timedelta(hours=6)))
    store.write_model(layout.LATEST_MANIFEST_KEY, newer)
    reads = datastore.reads
    datastore.summary("gefs", "temperature_2m", "boulder-flatirons")
    assert datastore.run_id == newer.run_id
    assert datastore.reads == reads + 1


def test_unchanged_manifest_and_documents_are_kept_not_replaced_at_each_refresh(fresh_store: Path) -> None:
    datastore = DataStore(str(fresh_store), manifest_ttl_seconds=0)
    first = datastore.manifest()
    datastore.summary("gefs", "temperature_2m", "boulder-flatirons")
    reads = datastore.reads
    registry, points = datastore.registry(), datastore.configured_points()
    assert datastore.manifest() is first  # re-read (TTL 0) and found equal
    assert datastore.registry() is registry and datastore.configured_points() is points
    datastore.summary("gefs", "temperature_2m", "boulder-flatirons")
    assert datastore.reads == reads  # the caches stay


def _state(store: Path, **selection: object) -> OverviewState:
    state = OverviewState(DataStore(str(store)))
    state.selection.apply_values(dict(selection))
    return state


def test_state_defaults_and_unit_system(app_store: Path) -> None:
    state = OverviewState(DataStore(str(app_store)))
    selection = state.selection
    assert selection.sources and selection.init == LATEST and selection.point is not None
    assert selection.panels == ["temperature", "precipitation", "wind"] and selection.units == "metric"
    celsius = state.frames().table
    selection.units = "imperial"
    assert (selection.temperature_unit, selection.precipitation_unit, selection.wind_unit) == ("degF", "in", "mph")
    fahrenheit = state.frames().table
    temperature = celsius["variable_id"] == "temperature_2m"
    np.testing.assert_allclose(
        fahrenheit.loc[temperature, "median"], celsius.loc[temperature, "median"] * 9 / 5 + 32, rtol=1e-5
    )
    assert set(fahrenheit["units"]) == {"degF", "in", "mph"}
    selection.apply_values({"units": "metric", "wind_unit": "kt"})
    assert selection.temperature_unit == "degC" and selection.wind_unit == "kt", "a variable's own unit is kept"


def test_three_panels_with_two_sources_dodged_side_by_side(app_store: Path) -> None:
    state = _state(app_store, point="boulder-flatirons", boxes="steps")
    frames = state.frames()
    assert [panel.panel_id for panel in frames.panels] == ["temperature", "precipitation", "wind"]
    boxes = frames.panels[0].steps.columns
    assert set(boxes["k"].tolist()) == {0, 1}
    first = {code: boxes["xc"][boxes["k"] == code].min() for code in (0, 1)}
    assert first[0] < first[1], "boxes of the two sources are offset, not drawn on top of each other"
    assert (boxes["q75"] >= boxes["q25"]).all() and len(frames.panels[0].days.columns["xc"]) == 0
    precipitation = frames.panels[1]
    assert precipitation.overlay_label.startswith("Snowfall"), "snowfall is drawn over precipitation"
    assert len(precipitation.overlay["x"]) == len(precipitation.overlay["y"]) > 0, "as one marker per valid time"


def test_partial_init_leads_are_marked_not_zero(app_store: Path) -> None:
    state = _state(app_store, point="boulder-flatirons", sources=["gefs"], boxes="steps")
    frames = state.frames()
    assert len(frames.missing["x0"]) == 1, "GEFS's newest init is partial: its missing leads are one shaded span"
    boxes = frames.panels[0].steps.columns
    assert (boxes["xc"] < frames.missing["x0"][0]).all(), "no box is drawn inside the not-ingested span"
    assert not frames.table["is_ingested"].all()
    assert any("not ingested" in note for note in frames.notes)


def test_daily_boxes_follow_the_points_local_day(app_store: Path) -> None:
    datastore = DataStore(str(app_store))
    state = _state(app_store, point="boulder-flatirons", sources=["gefs"], boxes="daily")
    assert state.point_zone() == "America/Denver"
    frames = state.frames()
    temperature, precipitation = frames.panels[0], frames.panels[1]
    assert len(temperature.steps.columns["xc"]) == 0
    codes = set(temperature.days.columns["k"].tolist())
    assert codes == {0, 1}, "temperature: a daily maximum box and a daily minimum box"
    members = datastore.members("gefs", "precipitation", "boulder-flatirons")
    ends = members["valid_time"] - pd.Timedelta(microseconds=1)
    members = members.assign(day=ends.dt.tz_convert("America/Denver").dt.date)
    steps = members.drop_duplicates("lead_hours").sort_values("lead_hours")
    hours = steps.assign(step=steps["lead_hours"].diff()).groupby("day")["step"].sum()
    whole = [day for day, total in hours.items() if total == 24]
    totals = members[members["lead_hours"] > 0].groupby(["day", "ensemble_member"])["value"].sum()
    first = precipitation.days.columns
    assert first["median"][0] == pytest.approx(float(np.quantile(totals.loc[whole[0]], 0.5)), rel=1e-5, abs=1e-6)
    noon = pd.Timestamp(whole[0]) + pd.Timedelta(hours=12)
    assert first["t"][0] == noon.to_datetime64(), "drawn at the local day's noon, in local wall time"
    state.selection.times = "utc"
    assert state.zone() == "UTC" and state.frames().zone == "UTC"


def test_precipitation_running_totals_never_decrease(app_store: Path) -> None:
    state = _state(app_store, point="boulder-flatirons", extras=["totals"], panels=["precipitation"], boxes="steps")
    frames = state.frames()
    assert frames.panels[0].title.startswith("Precipitation (total")
    boxes = frames.panels[0].steps.columns
    medians = boxes["median"][boxes["k"] == 0]
    assert (np.diff(medians[np.isfinite(medians)]) >= -1e-6).all(), "a running total never decreases"


def test_toggles_fill_members_and_bands(app_store: Path) -> None:
    state = _state(app_store, point="aspen-cabin", view="bands", extras=["members"])
    panel = state.frames().panels[0]
    assert len(panel.steps.columns["xc"]) and len(panel.lines["x0"]) and len(panel.members["x0"])


def test_compare_with_previous_init_draws_that_inits_median(two_inits_store: Path) -> None:
    datastore = DataStore(str(two_inits_store))
    manifest = datastore.manifest()
    assert manifest is not None
    newest, older = manifest.init_dates("gefs", "temperature_2m")[:2]  # the fixture lists two inits
    state = _state(two_inits_store, point="aspen-cabin", sources=["gefs"], panels=["temperature"], boxes="steps")
    assert len(state.frames().panels[0].previous["x0"]) == 0, "off unless asked for"
    state.selection.extras = ["previous"]
    previous = state.frames().panels[0].previous
    expected = datastore.summary("gefs", "temperature_2m", "aspen-cabin", older)["median"].dropna()
    assert newest > older and len(previous["x0"]) > 0
    drawn = np.concatenate([np.asarray(previous["y0"], dtype=float), np.asarray(previous["y1"], dtype=float)])
    assert set(np.round(drawn, 3)) == set(np.round(expected.to_numpy(dtype=float), 3)), "the older init's medians"


def test_hostile_name_is_escaped_in_html_and_pending_points(app_store: Path) -> None:
    from forecast_panel.views.overview import OverviewView

    state = _state(app_store, point="hostile-hut")
    view = OverviewView(state)
    assert "<script>" not in view.header.object
    assert "&lt;script&gt;" in view.header.object
    assert state.point_name() == HOSTILE_NAME


def test_freshness_and_banner() -> None:
    now = datetime.now(UTC)
    thresholds = FreshnessThresholds(yellow_after_hours=30, red_after_hours=54)

    def status(age_hours: float, errors: int = 0) -> ExtractionStatus:
        return ExtractionStatus.model_validate_json(
            ExtractionStatus(
                last_successful_extract_utc=(now - timedelta(hours=age_hours)).replace(microsecond=0),
                run_id="20261124T000000Z",
                sources_processed=["gefs"],
                variables_processed=["temperature_2m"],
                errors=[],
            ).model_dump_json()
        )

    assert freshness(status(1), thresholds) == "green"
    assert freshness(status(40), thresholds) == "yellow"
    assert freshness(status(60), thresholds) == "red"
    assert freshness(None, thresholds) == "red"
    assert banner_text(status(1), thresholds) is None
    assert "stale" in (banner_text(status(60), thresholds) or "")


def test_app_never_imports_the_pipeline_or_dask() -> None:
    code = (
        "import sys, forecast_panel.app, forecast_panel.cli; "
        "print(','.join(m for m in ('extraction', 'dask', 'xarray', 'distributed', 'icechunk') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_view_redraws_once_per_change_with_consistent_units(app_store: Path) -> None:
    from forecast_panel.views.overview import OverviewView

    state = _state(app_store, point="boulder-flatirons")
    view = OverviewView(state)
    redraws = []
    view.param.watch(lambda event: redraws.append(event.new), "revision")
    state.selection.units = "imperial"
    assert len(redraws) == 1, "the unit system's units, thresholds and the redraw follow in one update"
    assert set(view.current.table["units"]) == {"degF", "in", "mph"}
    labels = list(state.selection.param.precipitation_threshold.names)
    assert all(label.endswith(" in") for label in labels)
    state.selection.panels = ["wind"]
    assert len(redraws) == 2 and state.selection.units == "imperial", "units stay when the panels change"
    assert [panel.panel_id for panel in view.current.panels] == ["wind"]
    assert not view.meteogram.panels["temperature"].plot.visible and view.meteogram.panels["wind"].plot.visible
