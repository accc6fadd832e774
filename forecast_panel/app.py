"""The app: composes the views in a mobile-friendly template.

``create_app(store_url, api_url)`` returns a Panel template; it works in ``panel serve`` (this
module served as a script: ``panel serve forecast_panel/app.py --args`` is not needed, the
store comes from ``FORECAST_STORE_URL``), in ``forecast-panel serve`` and in a notebook
(``create_app(...).servable()`` or show the views directly). The app never imports
``extraction``, Dask or xarray; it reads only the published artifacts through the DataStore.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from functools import partial
from pathlib import Path
from typing import Any

import holoviews as hv
import panel as pn
from bokeh.models import CustomJS
from bokeh.settings import settings as bokeh_settings

from forecast_core.points_client import HttpPointsClient, PointsApiError, PointsService
from forecast_panel.data import DataStore, shared_datastore
from forecast_panel.frames import escape
from forecast_panel.live import ValueWatcher, follow_runs, follow_value, merged_points, run_announcement
from forecast_panel.localtime import warm_up
from forecast_panel.memory import freeze_heap, note_activity, release_memory, use_system_allocator
from forecast_panel.selection import MeteogramSelection
from forecast_panel.state import OverviewState
from forecast_panel.views.alerts import AlertsView
from forecast_panel.views.map import MapView
from forecast_panel.views.overview import OverviewView
from forecast_panel.views.status import FreshnessThresholds, banner, current_banner_text, show_banner, status_view

BANNER_REFRESH_MS = 5000  # how often the process re-checks the store for the banner (in-memory unless due)

# On narrow screens the sidebar starts collapsed and the header button opens it full width
# (the vanilla template toggles the ``hidden`` class; the meaning is inverted below 700 px).
MOBILE_CSS = """
:root { --bokeh-base-font: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans",
  Arial, sans-serif; }
@media screen and (max-width: 700px) {
  #sidebar:not(.hidden) { width: 0 !important; min-width: 0 !important; padding: 0 !important; border: 0 !important; }
  #sidebar.hidden { width: 100vw !important; padding: 10px !important; overflow-y: auto !important; }
  #main { padding: 4px !important; min-width: 0; }
}
.fp-note { color: #8a5a00; margin: 2px 0; }
body.fp-busy #main { opacity: 0.6; transition: opacity 0.2s 0.1s; }
body.fp-busy { cursor: progress; }
.fp-status th { text-align: left; padding-right: 1em; font-weight: 600; }
"""

PAGE_JS = (Path(__file__).parent / "page.js").read_text()
_EXTENSION_LOADED = False


def load_extensions() -> None:
    """HoloViews' Bokeh backend and Panel's extension with the app's settings. Idempotent;
    ``forecast-panel serve`` calls it at start-up (with this module's imports, ~5 s on a cold
    process) so the first session does not wait for them."""
    global _EXTENSION_LOADED
    if not _EXTENSION_LOADED:
        # Bokeh looks this setting up (override, environment, config file …) for every array
        # it serialises; fixing its current value once saved ~10 % of a redraw's server CPU.
        bokeh_settings.simple_ids.set_value(bokeh_settings.simple_ids())
        hv.extension("bokeh", logo=False)
        warm_up()  # the time-zone finder's polygons load once per process
        pn.extension(raw_css=[MOBILE_CSS], notifications=True, loading_indicator=True, sizing_mode="stretch_width")
        _EXTENSION_LOADED = True


def thresholds_from_env() -> FreshnessThresholds:
    """Freshness thresholds from FORECAST_FRESH_YELLOW_HOURS / FORECAST_FRESH_RED_HOURS."""
    return FreshnessThresholds(
        yellow_after_hours=float(os.environ.get("FORECAST_FRESH_YELLOW_HOURS", "30")),
        red_after_hours=float(os.environ.get("FORECAST_FRESH_RED_HOURS", "54")),
    )


def points_service(api_url: str | None) -> PointsService | None:
    """The write-back API client for ``api_url`` (None: the map is read-only)."""
    return HttpPointsClient(api_url) if api_url else None


class LocalAssetsTemplate(pn.template.VanillaTemplate):
    """The vanilla template without its Google Fonts stylesheet: every asset the page loads is
    served by the app itself (the page uses the system's fonts, see ``FONT_CSS``). Panel has no
    public setting for a template's font resources, so this overrides the class's private
    ``_resources`` mapping, whose only entry is that font."""

    _resources = {"font": {}}


class ForecastApp:
    """One session's app: state, views and the template that holds them."""

    def __init__(
        self,
        datastore: DataStore,
        service: PointsService | None = None,
        thresholds: FreshnessThresholds | None = None,
        tile_url: str | None = None,
    ) -> None:
        load_extensions()
        self.datastore = datastore
        self.service = service
        self.thresholds = thresholds or thresholds_from_env()
        self.state = OverviewState(datastore, MeteogramSelection())
        if service is not None:
            # when the API is unreachable the store's points file stays the source of the list
            with contextlib.suppress(PointsApiError):
                self.state.refresh_options(service.list_points())
        self.overview = OverviewView(self.state)
        self.alerts = AlertsView(self.state, service)
        self.overview.on_strip_tap = self.alerts.prefill
        self.overview.below.append(self.alerts.panel())
        self.map = MapView(
            datastore, self.state, service, tile_url=tile_url, on_saved=self._on_point_saved, on_show_point=self._show
        )
        self.banner = banner(datastore, self.thresholds)
        follow_value(banner_watcher(datastore, self.thresholds), self._show_banner, current=None)
        self.watcher = follow_runs(datastore, self._on_new_run)
        self.tabs = pn.Tabs(
            ("Forecast Overview", self.overview),
            ("Point Map", pn.param.ParamFunction(pn.bind(self.map.panel), lazy=True)),
            ("System Status", pn.param.ParamFunction(pn.bind(self._status), lazy=True)),
            dynamic=True,
            sizing_mode="stretch_width",
        )

    async def refresh_banner(self) -> None:
        """Re-check the store and the last run now (the process-wide ``banner_watcher`` does it
        for every session every ``BANNER_REFRESH_MS``); the store is read in a worker thread, so
        a failing store never stalls the server's loop."""
        text = await asyncio.to_thread(current_banner_text, self.datastore, self.thresholds)
        show_banner(self.banner, text)

    def _show_banner(self, text: str | None) -> None:
        show_banner(self.banner, text)

    def _status(self) -> pn.Column:
        return status_view(self.datastore, self.thresholds)

    def _on_point_saved(self) -> None:
        self.overview.refresh()
        self.watcher.expect_run()  # the targeted run of the new point is on its way

    def _show(self, point_id: str) -> None:
        self.state.selection.point = point_id
        self.tabs.active = 0

    def _on_new_run(self, _run_id: str | None) -> None:
        """A new run was published: apply it, keeping the selection, and say so."""
        configured = self.datastore.configured_points()
        self.state.refresh_options(merged_points(self.state.points, list(configured.points) if configured else []))
        self.overview.refresh()
        text = escape(run_announcement(self.datastore.manifest(), self.map.on_new_run()))
        self.map.run_note.object = f"<div class='fp-run-note-text' role='status'>{text}</div>"
        if pn.state.notifications is not None:
            pn.state.notifications.info(text, duration=10000)

    def template(self) -> pn.template.BaseTemplate:
        template = LocalAssetsTemplate(
            title="forecast-panel",
            sidebar=[self.overview.controls()],
            main=[self.banner, self.tabs],
            meta_viewport="width=device-width, initial-scale=1",
            sidebar_width=300,
            header_background="#1f3b57",
            busy_indicator=None,  # process-wide in Panel; the overview marks its own session busy
        )
        return template

    def sync_url(self) -> None:
        """Keep the overview selection in the page URL (a shareable link) and apply it at load.

        The link's valid values are applied first, each on its own (an old link loses nothing
        else), then ``pn.state.location.sync`` keeps the two in step."""
        location = pn.state.location
        if location is None:
            return
        query = {key: value for key, value in location.query_params.items() if key in self.state.selection.param}
        with self.overview.hold():
            self.state.selection.apply_values(query)
        location.sync(self.state.selection, self.state.selection.url_parameters(), on_error=lambda _: None)


_BANNER_WATCHERS: dict[tuple[int, FreshnessThresholds], tuple[DataStore, ValueWatcher]] = {}
_BANNER_LOCK = threading.Lock()


def banner_watcher(datastore: DataStore, thresholds: FreshnessThresholds) -> ValueWatcher:
    """The process-wide watcher of the banner's text for ``datastore`` and ``thresholds``: one
    thread re-checks it every ``BANNER_REFRESH_MS`` and updates only the sessions whose banner
    differs (no periodic callback per session)."""
    key = (id(datastore), thresholds)
    with _BANNER_LOCK:
        found = _BANNER_WATCHERS.get(key)
        if found is None or found[0] is not datastore:
            watcher = ValueWatcher(partial(current_banner_text, datastore, thresholds), BANNER_REFRESH_MS / 1000)
            found = _BANNER_WATCHERS[key] = (datastore, watcher)
        return found[1]


def _release_after_session(_context: Any) -> None:
    release_memory()


def create_app(
    store_url: str | None = None,
    api_url: str | None = None,
    *,
    service: PointsService | None = None,
    datastore: DataStore | None = None,
    tile_url: str | None = None,
    **options: Any,
) -> pn.template.BaseTemplate:
    """Build the app's template for one session (``FORECAST_STORE_URL`` / ``FORECAST_API_URL``)."""
    if datastore is None:
        url = store_url or os.environ.get("FORECAST_STORE_URL")
        if not url:
            raise ValueError("give a store URL (or set FORECAST_STORE_URL)")
        datastore = shared_datastore(url)
    if service is None:
        service = points_service(api_url or os.environ.get("FORECAST_API_URL"))
    use_system_allocator()
    app = ForecastApp(datastore, service, tile_url=tile_url or os.environ.get("FORECAST_TILE_URL"), **options)
    app.sync_url()
    if pn.state.curdoc is not None:
        pn.state.curdoc.js_on_event("document_ready", CustomJS(code=PAGE_JS))
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        # once the session's document is built, its objects leave the collector's full passes
        pn.state.curdoc.add_next_tick_callback(freeze_heap)
        pn.state.curdoc.on_change(note_activity)  # memory is released when sessions are quiet
        pn.state.on_session_destroyed(_release_after_session)
    return app.template()


if pn.state.curdoc is not None and os.environ.get("FORECAST_STORE_URL") and __name__.startswith("bokeh_app"):
    # ``panel serve forecast_panel/app.py`` runs this file as a fresh script module per session and
    # clears that module's globals when the session ends; the app comes from the imported module,
    # whose globals its session callbacks (memory release) still need then.
    from forecast_panel import app as imported

    imported.create_app().servable()
