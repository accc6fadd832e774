"""Open sessions follow newly published runs (forecast_panel.live) and keep their selection."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from forecast_core import layout
from forecast_core.points import Point, PreCannedPoints
from forecast_core.status import RunManifest
from forecast_core.store import ArtifactStore
from forecast_panel.app import ForecastApp, banner_watcher
from forecast_panel.data import DataStore
from forecast_panel.live import RunWatcher, ValueWatcher, merged_points, run_announcement
from forecast_panel.state import PENDING
from forecast_panel.views.status import FreshnessThresholds, current_banner_text

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
RUN_ID_FORMAT = "%Y%m%dT%H%M%SZ"
NEW_POINT = Point(
    point_id="evergreen",
    point_name="Evergreen",
    latitude=39.6333,
    longitude=-105.3172,
    created_by="tests",
    created_utc=datetime(2026, 11, 2, tzinfo=UTC),
    updated_utc=datetime(2026, 11, 2, tzinfo=UTC),
)


def publish_new_run(store: ArtifactStore, *, with_point: str | None = None) -> RunManifest:
    """latest.json of a new run id over the same artifacts (optionally listing one more point)."""
    manifest = store.read_model(layout.LATEST_MANIFEST_KEY, RunManifest)
    point_ids = [*manifest.point_ids, with_point] if with_point else manifest.point_ids
    later = datetime.strptime(manifest.run_id, RUN_ID_FORMAT) + timedelta(seconds=1)
    newer = manifest.model_copy(update={"run_id": later.strftime(RUN_ID_FORMAT), "point_ids": point_ids})
    store.write_model(layout.LATEST_MANIFEST_KEY, newer)
    return newer


def test_sessions_are_told_only_when_the_run_changes(fresh_store: Path) -> None:
    store = ArtifactStore(str(fresh_store))
    datastore = DataStore(store, manifest_ttl_seconds=3600)
    watcher = RunWatcher(datastore, interval=3600)
    seen: list[str | None] = []
    subscription = watcher.subscribe(seen.append)
    other: list[str | None] = []
    watcher.subscribe(other.append)
    assert watcher.check() is False and watcher.check() is False
    assert seen == [] and watcher.notified == 0, "an unchanged run touches no session"
    newer = publish_new_run(store)
    assert watcher.check() is True
    assert seen == [newer.run_id] and other == [newer.run_id]
    assert datastore.run_id == newer.run_id, "the shared DataStore moved to the new run (its TTL ignored)"
    watcher.unsubscribe(subscription)
    publish_new_run(store)
    assert watcher.check() is True
    assert len(seen) == 1 and len(other) == 2 and watcher.sessions == 1


def test_a_saved_point_makes_the_watcher_check_quickly(fresh_store: Path) -> None:
    store = ArtifactStore(str(fresh_store))
    watcher = RunWatcher(DataStore(store, manifest_ttl_seconds=3600), interval=3600, fast_interval=0.05)
    arrived = threading.Event()
    watcher.subscribe(lambda _run_id: arrived.set())
    watcher.expect_run()
    newer = publish_new_run(store)
    assert arrived.wait(timeout=60), "the fast pace picked the new run up"
    assert watcher.run_id == newer.run_id and watcher.expecting()


def test_a_new_run_switches_the_pending_point_and_keeps_the_selection(fresh_store: Path) -> None:
    store = ArtifactStore(str(fresh_store))
    configured = store.read_model(layout.PRE_CANNED_POINTS_KEY, PreCannedPoints)
    store.write_model(
        layout.PRE_CANNED_POINTS_KEY, configured.model_copy(update={"points": [*configured.points, NEW_POINT]})
    )
    datastore = DataStore(store, manifest_ttl_seconds=3600)
    app = ForecastApp(datastore, tile_url="none")
    assert f"Evergreen{PENDING}" in app.state.selection.param.point.names
    app.state.selection.param.update(point="aspen-cabin", panels=["wind"], units="imperial", wind_unit="kt")
    app.map.panel()
    app.map.overlay.overlay_variable = "temperature_2m"
    app.map.click(-105.3, 39.99, name="Draft")
    assert "evergreen" in app.map.pending_ids
    publish_new_run(store, with_point="evergreen")
    datastore.manifest(force=True)
    app._on_new_run(datastore.run_id)
    names = app.state.selection.param.point.names
    assert "Evergreen" in names and f"Evergreen{PENDING}" not in names
    selection = app.state.selection
    assert (selection.point, selection.panels, selection.units, selection.wind_unit) == (
        "aspen-cabin",
        ["wind"],
        "imperial",
        "kt",
    )
    assert app.map.clicked == (-105.3, 39.99) and app.map.name_input.value == "Draft", "the draft point stays"
    assert app.map.overlay.overlay_variable == "temperature_2m" and app.map.overlay.overlay_lead is not None
    assert "evergreen" not in app.map.pending_ids
    assert "new forecast run" in app.map.run_note.object and "Evergreen" in app.map.run_note.object
    assert "forecast ready" in app.map.point_list.object


def test_points_merge_and_announcement(app_store: Path) -> None:
    mine = NEW_POINT.model_copy(update={"point_name": "Mine"})
    store_copy = NEW_POINT.model_copy(update={"point_name": "Evergreen (store)"})
    other = NEW_POINT.model_copy(update={"point_id": "other"})
    assert [point.point_name for point in merged_points([mine, other], [store_copy])] == [
        "Evergreen (store)",
        other.point_name,
    ]
    manifest = DataStore(str(app_store)).manifest()
    text = run_announcement(manifest, ["Evergreen"])
    assert text.startswith("A new forecast run was published (newest init ") and text.endswith("Evergreen.")
    assert "withdrawn" in run_announcement(None, [])


class FakeDocument:
    """A session's document as the watchers use it: callbacks queued for its next tick."""

    def __init__(self, gone: bool = False) -> None:
        self.ticks: list[Callable[[], None]] = []
        self.gone = gone

    def add_next_tick_callback(self, callback: Callable[[], None]) -> None:
        if self.gone:
            raise RuntimeError("session destroyed")
        self.ticks.append(callback)


def test_one_value_watcher_updates_every_session_whose_value_differs() -> None:
    values = iter(["stale", "stale", None, None])
    watcher = ValueWatcher(lambda: next(values), interval=3600)
    shown: dict[str, list[str | None]] = {"a": [], "b": [], "c": []}
    documents = {name: FakeDocument() for name in shown}
    for name, current in (("a", None), ("b", "stale"), ("c", None)):
        watcher.subscribe(shown[name].append, documents[name], current)
    closing = watcher.subscribe(lambda _value: None, FakeDocument(gone=True), None)
    assert watcher.check() == 3  # a, c and the closing session differ; b shows it already
    assert closing not in watcher._subscriptions and watcher.sessions == 3, "a destroyed session is dropped"
    assert all(not items for items in shown.values()), "nothing runs off the sessions' own ticks"
    for document in documents.values():
        for tick in document.ticks:
            tick()
        document.ticks.clear()
    assert shown == {"a": ["stale"], "b": [], "c": ["stale"]}
    assert watcher.check() == 0 and all(not document.ticks for document in documents.values())
    assert watcher.check() == 3 and watcher.notified == 6 and watcher.checks == 3  # the value changed: all of them
    for document in documents.values():
        for tick in document.ticks:
            tick()
    assert shown == {"a": ["stale", None], "b": [None], "c": ["stale", None]}
    assert watcher.check() == 0


def test_the_banner_watcher_is_one_per_process_and_shows_the_banner_in_each_app(fresh_store: Path) -> None:
    datastore = DataStore(ArtifactStore(str(fresh_store)), manifest_ttl_seconds=3600)
    quiet, strict = FreshnessThresholds(), FreshnessThresholds(yellow_after_hours=0.0, red_after_hours=0.0)
    assert banner_watcher(datastore, quiet) is banner_watcher(datastore, quiet)
    watcher = banner_watcher(datastore, strict)
    assert watcher is not banner_watcher(datastore, quiet)
    apps = [ForecastApp(datastore, thresholds=strict, tile_url="none") for _ in range(2)]
    for app in apps:
        app.banner.param.update(object="", visible=False)  # as if the store had been fine until now
        watcher.subscribe(app._show_banner)
    text = current_banner_text(datastore, strict)
    assert text is not None and "stale" in text
    assert watcher.check() == 2
    assert all(app.banner.visible and "stale" in str(app.banner.object) for app in apps)
