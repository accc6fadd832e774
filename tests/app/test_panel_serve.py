"""``panel serve forecast_panel/app.py``: the app as a plain Panel app (store from FORECAST_STORE_URL).

Not only ``forecast-panel serve``: Panel's own server runs the module as a script, and the module
makes its template servable when ``FORECAST_STORE_URL`` names a store. Checked in Debian's
chromium: the overview's header names the published run and the meteogram is drawn.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forecast_panel.data import DataStore
from tests.app.conftest import Server
from tests.ports import reserved_port

pytestmark = pytest.mark.ui


@pytest.fixture
def panel_served(app_store: Path, tmp_path: Path) -> Iterator[str]:
    with reserved_port() as port:
        args = ["serve", "forecast_panel/app.py", "--port", str(port), "--address", "127.0.0.1"]
        args += ["--allow-websocket-origin", f"127.0.0.1:{port}", "--liveness"]
        base, log = f"http://127.0.0.1:{port}", tmp_path / "panel-serve.log"
        env = {"FORECAST_STORE_URL": str(app_store)}
        server = Server(args, f"{base}/liveness", log, program=[sys.executable, "-m", "panel"], env=env)
    yield f"{base}/app"
    server.stop()
    assert "failed with following error" not in log.read_text(), "a session callback failed"


def test_panel_serve_runs_the_app_module(browser: Any, panel_served: str, app_store: Path) -> None:
    run_id = DataStore(str(app_store)).run_id
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(60000)
    try:
        page = context.new_page()
        page.goto(panel_served)
        assert page.title() == "forecast-panel"
        title = page.locator(".fp-title").first
        title.wait_for()
        assert f"data from run {run_id}" in title.inner_text()
        page.locator(".fp-panel-temperature .bk-Canvas").first.wait_for()
        assert page.locator(".fp-panel-temperature .bk-Canvas").first.bounding_box()["height"] > 150
    finally:
        context.close()
