"""Browser tests: the served app in Debian's chromium, on a store the real pipeline wrote.

Bokeh renders into shadow DOM; Playwright's CSS and text locators pierce it. Plot titles are
drawn on canvas, so a redraw is checked by the header text and by the plot's pixels changing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from forecast_core import layout
from forecast_core.status import ExtractionStatus, InventoryStatus
from forecast_core.store import ArtifactStore
from tests.app.conftest import HOSTILE_NAME, ROOT, serve_app

pytestmark = pytest.mark.ui
SCREENSHOT = ROOT / "docs" / "images" / "overview.png"


WAIT_SECONDS = 180.0  # only a hang guard: every wait below ends as soon as its condition holds


def wait_until(
    check: Callable[[], bool],
    timeout: float = WAIT_SECONDS,
    message: str = "condition",
    last_seen: Callable[[], object] | None = None,
) -> None:
    """Poll ``check`` (which calls into Playwright, so page events are delivered meanwhile);
    ``last_seen`` describes the state in the failure message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {message}{f' (last seen: {last_seen()})' if last_seen else ''}")


def busy(page: Any) -> bool:
    """Whether the page shows its busy cue (set by a control change, cleared by the redraw)."""
    return bool(page.evaluate("document.body.classList.contains('fp-busy')"))


def redrawn(page: Any) -> bool:
    """The page's last change has been drawn: its busy cue, cleared by the redraw's last patch, is
    off (screenshots wait for the next painted frame themselves)."""
    return not busy(page)


class BokehMessages:
    """The Bokeh protocol messages on a page's websocket: ids of the requests it sent, the request
    ids the server answered, and the messages the server sent unasked (pushed)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.sent: list[str] = []
        self.answered: set[str] = set()
        self.pushed: list[str] = []
        page.on("websocket", self._watch)

    def _watch(self, socket: Any) -> None:
        socket.on("framesent", lambda payload: self._header(payload, self._on_sent))
        socket.on("framereceived", lambda payload: self._header(payload, self._on_received))

    @staticmethod
    def _header(payload: str | bytes, then: Callable[[dict[str, str]], None]) -> None:
        if isinstance(payload, str) and payload.startswith("{") and '"msgtype"' in payload:
            then(json.loads(payload))

    def _on_sent(self, header: dict[str, str]) -> None:
        self.sent.append(header["msgid"])

    def _on_received(self, header: dict[str, str]) -> None:
        if "reqid" in header:
            self.answered.add(header["reqid"])
        elif header["msgtype"] != "ACK":
            self.pushed.append(header["msgtype"])

    def settled(self) -> bool:
        """Every request the page has sent so far has its answer (page events are delivered first)."""
        self.page.evaluate("0")
        return bool(self.sent) and set(self.sent) <= self.answered

    def round_trip(self) -> None:
        """Send one request and wait for its answer: whatever the server sent this page before it
        (a push caused by another session, say) has arrived by then."""
        before = len(self.sent)
        self.page.evaluate("Bokeh.documents[0].set_title(document.title + ' ')")
        wait_until(lambda: len(self.sent) > before and self.settled(), message="a round trip to the server")


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_SECONDS * 1000)
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


def open_app(page: Any, url: str) -> None:
    page.goto(url)
    page.locator(".fp-title").first.wait_for()
    page.locator("canvas").first.wait_for()


def header(page: Any) -> str:
    text: str = page.locator(".fp-title").first.inner_text()
    return text


def plot_pixels(page: Any) -> bytes:
    shot: bytes = page.locator(".fp-main-plot .bk-Canvas").first.screenshot()
    return shot


def test_overview_switches_source_variable_and_point(page: Any, app_url: str) -> None:
    open_app(page, app_url)
    page.locator("select").nth(1).select_option(label="Aspen Cabin")
    wait_until(lambda: "Aspen Cabin" in header(page) and redrawn(page), message="first point")
    before = plot_pixels(page)
    page.locator("select").nth(1).select_option(label="Bear Lake Trailhead")
    wait_until(lambda: "Bear Lake Trailhead" in header(page), message="point switch")
    wait_until(lambda: plot_pixels(page) != before, message="plot redraw after the point switch")
    before = plot_pixels(page)
    page.locator("select").nth(0).select_option(label="Precipitation")
    page.locator(".fp-exceedance-plot .bk-Canvas").first.wait_for()
    wait_until(lambda: plot_pixels(page) != before, message="plot redraw after the variable switch")
    assert "ECMWF IFS ENS" in header(page) and "NOAA GEFS" in header(page), "both sources by default"
    ecmwf = page.locator(".bk-input-group label", has_text="ECMWF IFS ENS")
    ecmwf.click()
    wait_until(lambda: "ECMWF IFS ENS" not in header(page), message="source switched off")
    ecmwf.click()
    wait_until(lambda: "ECMWF IFS ENS" in header(page), message="source switched on")
    page.locator("select").nth(0).select_option(label="Temperature (2 m)")
    page.locator(".fp-exceedance-plot .bk-Canvas").first.wait_for(state="detached")
    wait_until(lambda: redrawn(page), message="redraw after the variable switch")
    shot = page.screenshot()
    assert len(shot) > 10_000, "a real page was rendered"
    if os.environ.get("FORECAST_PANEL_UPDATE_SCREENSHOT") == "1":  # refresh the README image on demand
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(shot)
    assert page.url.count("point=") == 1 and "sources=" in page.url, "the selection is in the URL"
    assert not page.dialogs


WATCH_BUSY = """() => { window.fpBusySeen = false;
  new MutationObserver(() => { if (document.body.classList.contains('fp-busy')) window.fpBusySeen = true; })
    .observe(document.body, {attributes: true, attributeFilter: ['class']}); }"""


def test_a_change_marks_only_its_own_page_busy_until_the_redraw(browser: Any, app_url: str) -> None:
    pages = [browser.new_context(viewport={"width": 1280, "height": 900}).new_page() for _ in range(2)]
    for item in pages:
        item.set_default_timeout(WAIT_SECONDS * 1000)
    messages = BokehMessages(pages[1])
    try:
        for item in pages:
            open_app(item, app_url)
            item.evaluate(WATCH_BUSY)
        mine, other = pages
        wait_until(messages.settled, message="the other page's start-up requests answered")
        pushed_before = len(messages.pushed)
        options = mine.locator("select").nth(1).locator("option").all_inner_texts()
        label = next(item for item in options if "pending" not in item and item not in header(mine))
        mine.locator("select").nth(1).select_option(label=label)
        wait_until(lambda: label in header(mine), message="point switch")
        wait_until(lambda: not busy(mine), message="busy cleared")
        assert mine.evaluate("window.fpBusySeen"), "the page was marked busy while the server redrew"
        messages.round_trip()  # anything the change pushed to the other page has arrived by now
        assert not other.evaluate("window.fpBusySeen"), "another session's change does not mark this page busy"
        assert messages.pushed[pushed_before:] == [], (
            "another session's change sends this page nothing (no process-wide busy state)"
        )
        # what a busy page looks like (transitions off, so the style is read at its end value)
        other.add_style_tag(content="*, *::before, *::after { transition: none !important; }")
        other.evaluate("document.body.classList.add('fp-busy')")
        assert float(other.locator("#main").evaluate("e => getComputedStyle(e).opacity")) < 1, "busy dims the page"
    finally:
        for item in pages:
            item.context.close()


def test_hostile_point_name_renders_as_text(page: Any, app_url: str) -> None:
    open_app(page, app_url)
    page.locator("select").nth(1).select_option(label=HOSTILE_NAME)
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


def test_phone_width_has_no_horizontal_scroll(browser: Any, app_url: str) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        open_app(page, app_url)

        seen: dict[str, object] = {}

        def phone_layout() -> bool:  # the responsive layout settles after the first paint
            box = page.locator(".bk-Canvas").first.bounding_box()
            seen.update(box=box, scroll_width=page.evaluate("document.documentElement.scrollWidth"), busy=busy(page))
            inside = box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390 + 1
            wide = box is not None and box["width"] > 250  # the sidebar collapsed
            return inside and wide and int(seen["scroll_width"]) <= 390  # type: ignore[call-overload]

        wait_until(phone_layout, message="the plot across the phone, no horizontal scroll", last_seen=lambda: seen)
    finally:
        context.close()


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
        page.get_by_role("button", name="Save point").click()
        page.locator(".fp-saved").first.wait_for()
        assert "Test Ridge Hut" in page.locator(".fp-points").first.inner_text()
        listed = json.loads(page.request.get(f"{api_server}/points").text())
        assert any(point["point_name"] == "Test Ridge Hut" for point in listed["points"])
        options = page.locator("select").nth(1).inner_text()
        assert "Test Ridge Hut (forecast pending)" in options

        # a duplicate name is refused with a clear message
        click_map(0.6, 0.4)
        page.get_by_placeholder("e.g. My Cabin").fill("test ridge hut")
        page.get_by_placeholder("e.g. My Cabin").press("Enter")
        page.get_by_role("button", name="Save point").click()
        page.locator(".fp-error").first.wait_for()
        assert "uplicate" in page.locator(".fp-error").first.inner_text()
    finally:
        server.stop()
