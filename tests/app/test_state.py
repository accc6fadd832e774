"""DataStore and param-class tests on a store written by the real pipeline (no browser)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from forecast_core import layout
from forecast_core.status import ExtractionStatus, RunManifest
from forecast_core.store import ArtifactStore
from forecast_panel import frames as fr
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
    assert fr.empty(fr.BOX_COLUMNS) is not fr.empty(fr.BOX_COLUMNS)
    assert str(fr.empty(fr.BOX_COLUMNS)["x0"].dtype) == "datetime64[ns]"


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


def test_state_defaults_and_unit_conversion(app_store: Path) -> None:
    state = OverviewState(DataStore(str(app_store)))
    assert state.sources and state.variable == "temperature_2m" and state.init == LATEST
    assert state.units == "degC" and state.point_id is not None
    celsius = state.frames().table
    state.units = "degF"
    fahrenheit = state.frames().table
    np.testing.assert_allclose(fahrenheit["median"], celsius["median"] * 9 / 5 + 32, rtol=1e-5)
    assert set(fahrenheit["units"]) == {"degF"}


def test_two_sources_are_dodged_side_by_side(app_store: Path) -> None:
    state = OverviewState(DataStore(str(app_store)), point_id="boulder-flatirons")
    state.sources = ["gefs", "ecmwf_ifs_ens"]
    frames = state.frames()
    assert frames.inner["source"].nunique() == 2
    first_time = frames.inner.groupby("source")["x0"].min()
    assert first_time.nunique() == 2, "boxes of the two sources are offset, not drawn on top of each other"
    assert (frames.inner["y1"] >= frames.inner["y0"]).all()
    assert (frames.outer["x1"] - frames.outer["x0"] < frames.inner["x1"] - frames.inner["x0"]).all()


def test_partial_init_leads_are_marked_not_zero(app_store: Path) -> None:
    state = OverviewState(DataStore(str(app_store)), point_id="boulder-flatirons")
    state.sources = ["gefs"]
    frames = state.frames()
    assert len(frames.missing) == 1, "GEFS's newest init is partial: its missing leads are one shaded span"
    span_start = frames.missing["x0"].iloc[0]
    assert (frames.inner["x1"] <= span_start).all(), "no box is drawn inside the not-ingested span"
    assert not frames.table["is_ingested"].all()
    assert any("not ingested" in note for note in frames.notes)


def test_daily_view_has_a_box_per_whole_day_and_statistic(app_store: Path) -> None:
    datastore = DataStore(str(app_store))
    state = OverviewState(datastore, point_id="boulder-flatirons", view="daily")
    state.sources = ["gefs"]
    per_lead = OverviewState(datastore, point_id="boulder-flatirons", sources=["gefs"]).frames()
    frames = state.frames()
    assert set(frames.table["statistic"]) == {"daily max", "daily min"}  # temperature: ECMWF's min/max boxes
    days = frames.table["valid_time"].nunique()
    assert 0 < days <= 16 and len(frames.inner) == 2 * days < len(per_lead.inner)
    span_start = frames.missing["x0"].iloc[0]
    assert (frames.inner["x1"] <= span_start).all(), "no daily box inside the partial init's missing leads"
    state.variable = "precipitation"
    frames = state.frames()
    assert set(frames.table["statistic"]) == {"daily sum"}
    members = datastore.members("gefs", "precipitation", "boulder-flatirons")
    first_day = members[(members["lead_hours"] > 0) & (members["lead_hours"] <= 24)]
    totals = first_day.groupby("ensemble_member")["value"].sum()
    row = frames.table.iloc[0]
    assert row["median"] == pytest.approx(float(np.quantile(totals, 0.5)), rel=1e-5)
    assert row["member_count"] == totals.size


def test_precipitation_exceedance_and_totals(app_store: Path) -> None:
    state = OverviewState(DataStore(str(app_store)), point_id="boulder-flatirons")
    state.variable = "precipitation"
    assert state.threshold == 1.0 and state.has_exceedance()
    frames = state.frames()
    assert not frames.exceedance.empty
    assert frames.exceedance["y1"].between(0, 100).all()
    state.units = "in"
    assert state.threshold == pytest.approx(1 / 25.4, abs=0.01)
    state.variable = "precipitation_total"
    total = state.frames().table
    gefs = total[total["source_id"] == "gefs"]
    medians = gefs.dropna(subset=["median"])["median"].to_numpy()
    assert (np.diff(medians) >= -1e-6).all(), "a running total never decreases"


def test_toggles_fill_members_bands_and_previous(app_store: Path) -> None:
    state = OverviewState(DataStore(str(app_store)), point_id="aspen-cabin", view="bands", show_members=True)
    frames = state.frames()
    assert frames.whiskers.empty and not frames.outer.empty and not frames.medians.empty
    assert len(frames.members) > 0
    state.compare_previous = True
    manifest = state.manifest()
    assert manifest is not None
    older = manifest.init_dates("gefs", "temperature_2m")[1:]
    assert state.frames().previous.empty == (not older), "the previous init's median is drawn when one is listed"


def test_hostile_name_is_escaped_in_html_and_pending_points(app_store: Path) -> None:
    from forecast_panel.views.overview import OverviewView

    state = OverviewState(DataStore(str(app_store)), point_id="hostile-hut")
    view = OverviewView(state)
    assert "<script>" not in view.header.object
    assert "&lt;script&gt;" in view.header.object
    assert state.point_name("hostile-hut") == HOSTILE_NAME


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

    state = OverviewState(DataStore(str(app_store)), point_id="boulder-flatirons")
    view = OverviewView(state)
    redraws = []
    view.param.watch(lambda event: redraws.append(event.new), "revision")
    state.variable = "precipitation"
    assert len(redraws) == 1, "units, init and threshold follow the variable in the same redraw"
    assert set(view.current.table["units"]) == {"mm"} and state.threshold == 1.0
    state.units = "in"
    assert len(redraws) == 2
    assert view.meteogram.exceedance.title.text == "Probability of exceeding 0.04 in"
    assert len(view.meteogram.sources["boxes"].data["xc"]) == len(view.current.inner)
