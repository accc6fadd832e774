"""Browser tests: the served app in Debian's chromium, on a store the real pipeline wrote (the
meteogram's own tests are in ``test_meteogram_ui.py``).

Bokeh renders into shadow DOM; Playwright's CSS and text locators pierce it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from forecast_core import layout
from forecast_core.status import ExtractionStatus, InventoryStatus
from forecast_core.store import ArtifactStore
from tests.app.conftest import HOSTILE_NAME, serve_app
from tests.app.ui import header, open_app, wait_until

pytestmark = pytest.mark.ui


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30000)
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


WATCH_BUSY = """() => { window.fpBusySeen = false;
  new MutationObserver(() => { if (document.body.classList.contains('fp-busy')) window.fpBusySeen = true; })
    .observe(document.body, {attributes: true, attributeFilter: ['class']}); }"""


def test_a_change_marks_only_its_own_page_busy_until_the_redraw(browser: Any, app_url: str) -> None:
    pages = [browser.new_context(viewport={"width": 1280, "height": 900}).new_page() for _ in range(2)]
    received = [0]
    pages[1].on(
        "websocket", lambda socket: socket.on("framereceived", lambda _: received.__setitem__(0, received[0] + 1))
    )
    try:
        for item in pages:
            open_app(item, app_url)
            item.evaluate(WATCH_BUSY)
        mine, other = pages
        other.wait_for_timeout(1000)
        received[0] = 0
        options = mine.locator("select").nth(0).locator("option").all_inner_texts()
        label = next(item for item in options if "pending" not in item and item not in header(mine))
        mine.locator("select").nth(0).select_option(label=label)
        wait_until(lambda: label in header(mine), message="point switch")
        wait_until(lambda: not mine.evaluate("document.body.classList.contains('fp-busy')"), message="busy cleared")
        assert mine.evaluate("window.fpBusySeen"), "the page was marked busy while the server redrew"
        other.wait_for_timeout(300)
        assert not other.evaluate("window.fpBusySeen"), "another session's change does not mark this page busy"
        assert received[0] == 0, "another session's change sends this page nothing (no process-wide busy state)"
        other.evaluate("document.body.classList.add('fp-busy')")  # what a busy page looks like
        other.wait_for_timeout(600)
        assert float(other.locator("#main").evaluate("e => getComputedStyle(e).opacity")) < 1, "busy dims the page"
    finally:
        for item in pages:
            item.context.close()


def test_hostile_point_name_renders_as_text(page: Any, app_url: str) -> None:
    open_app(page, app_url)
    page.locator("select").nth(0).select_option(label=HOSTILE_NAME)
    wait_until(lambda: HOSTILE_NAME in header(page), message="hostile name shown literally")
    page.locator(".bk-tab", has_text="Point Map").click()
    page.locator(".fp-points").first.wait_for()
    assert HOSTILE_NAME in page.locator(".fp-points").first.inner_text()
    assert not page.dialogs, "no script from a point name ran"


def test_status_tab_figures(page: Any, app_url: str, app_store: Path) -> None:
    store = ArtifactStore(str(app_store))
    status = store.read_model(layout.EXTRACTION_STATUS_KEY, ExtractionStatus)
    inventory = store.read_model(layout.INVENTORY_STATUS_KEY, InventoryStatus)
    open_app(page, app_url)
    page.locator(".bk-tab", has_text="System Status").click()
    table = page.locator(".fp-status").first
    table.wait_for()
    text = table.inner_text()
    assert status.run_id is not None and status.run_id in text
    assert f"{inventory.object_count:,}" in text
    assert f"${inventory.estimated_monthly_storage_usd:.4f}" in text
    assert page.locator(".fp-light").first.get_attribute("data-light") in {"green", "yellow", "red"}
    sources = page.locator(".fp-sources").first.inner_text()
    assert "gefs" in sources and "ecmwf_ifs_ens" in sources and "UTC" in sources


def test_stale_store_shows_the_banner(page: Any, fresh_store: Path, tmp_path: Path) -> None:
    store = ArtifactStore(str(fresh_store))
    status = store.read_model(layout.EXTRACTION_STATUS_KEY, ExtractionStatus)
    assert status.last_successful_extract_utc is not None
    old = status.replace(last_successful_extract_utc=status.last_successful_extract_utc - timedelta(days=6), errors=[])
    store.write_model(layout.EXTRACTION_STATUS_KEY, old)
    server, url = serve_app(fresh_store, tmp_path)
    try:
        open_app(page, url)
        banner = page.get_by_text("Forecast data are stale").first
        banner.wait_for()
        assert "ago" in banner.inner_text()
    finally:
        server.stop()


def test_map_click_name_save_and_list(page: Any, fresh_store: Path, api_server: str, tmp_path: Path) -> None:
    server, url = serve_app(fresh_store, tmp_path, api=api_server)
    try:
        open_app(page, url)
        page.locator(".bk-tab", has_text="Point Map").click()
        events = page.locator(".fp-map .bk-Canvas").first
        events.wait_for()
        box = events.bounding_box()
        assert box is not None

        def click_map(dx: float, dy: float) -> None:
            page.mouse.click(box["x"] + box["width"] * dx, box["y"] + box["height"] * dy)
            page.get_by_text("Nearest grid cell per source").first.wait_for()

        # Cancel leaves nothing behind
        click_map(0.5, 0.5)
        page.get_by_role("button", name="Cancel").click()
        wait_until(lambda: page.get_by_text("Nearest grid cell per source").count() == 0, message="form closed")

        click_map(0.45, 0.55)
        assert "km away" in page.locator(".fp-preview-body").first.inner_text()
        page.get_by_placeholder("e.g. My Cabin").fill("Test Ridge Hut")
        page.get_by_placeholder("e.g. My Cabin").press("Enter")
        page.get_by_role("button", name="Confirm").click()
        page.locator(".fp-saved").first.wait_for()
        assert "Test Ridge Hut" in page.locator(".fp-points").first.inner_text()
        listed = json.loads(page.request.get(f"{api_server}/points").text())
        assert any(point["point_name"] == "Test Ridge Hut" for point in listed["points"])
        options = page.locator("select").nth(0).inner_text()
        assert "Test Ridge Hut (forecast pending)" in options

        # a duplicate name is refused with a clear message
        click_map(0.6, 0.4)
        page.get_by_placeholder("e.g. My Cabin").fill("test ridge hut")
        page.get_by_placeholder("e.g. My Cabin").press("Enter")
        page.get_by_role("button", name="Confirm").click()
        page.locator(".fp-error").first.wait_for()
        assert "uplicate" in page.locator(".fp-error").first.inner_text()
    finally:
        server.stop()
