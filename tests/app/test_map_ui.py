"""Browser tests of the map tab: find a place, coordinates, my location, offline map, live updates.

Served without tiles (as the demo is). Bokeh draws place names and the colour bar on canvas, so
those are read from the page's Bokeh document (the data the browser draws), and screenshots of
each viewport are written for people to look at (``FORECAST_PANEL_UPDATE_SCREENSHOT=1`` also
refreshes the published ones in ``docs/images/``).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from forecast_panel.places import gazetteer
from forecast_panel.views.place_finder import RESULTS, result_label
from tests.app.conftest import ROOT, Server, serve_app
from tests.ports import reserved_port

pytestmark = pytest.mark.ui
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
AXE = ROOT / ".tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"  # installed by scripts/dev
SEARCH = "City, state or country"
COORDINATES = "39.74, -104.99"
BOKEH_DATA = """(column) => {
  const found = []
  for (const doc of Bokeh.documents) for (const model of doc.all_models) {
    const data = model.data instanceof Map ? Object.fromEntries(model.data) : model.data
    if (data && data[column]) found.push(...Array.from(data[column]))
  }
  return found }"""
COLOR_BAR_TITLES = """() => {
  const found = []
  for (const doc of Bokeh.documents) for (const model of doc.all_models)
    if (model.color_mapper !== undefined && model.title !== undefined && model.title) found.push(model.title)
  return found }"""
# The page with the map tab open, less the overview's sidebar; the rules about the page as a whole
# (landmarks, its heading) belong to the template and are checked on the whole page by the
# accessibility tests of the overview.
AXE_RUN = """async () => await axe.run({exclude: [['#sidebar']]}, {rules: {
  'region': {enabled: false}, 'landmark-one-main': {enabled: false}, 'page-has-heading-one': {enabled: false}}})"""
LOCAL_TIME = re.compile(r"^\w{3} \d{2} \w{3} \d{2}:\d{2} \w+ \(\+\d+ h\)$")


def wait_until(check: Callable[[], bool], timeout: float = 30.0, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {message}")


def new_page(browser: Any, viewport: str, **options: Any) -> Any:
    size = VIEWPORTS[viewport]
    phone = viewport == "phone"
    context = browser.new_context(viewport=size, is_mobile=phone, has_touch=phone, **options)
    context.set_default_timeout(60000)
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    return page


def open_map(page: Any, url: str) -> None:
    page.goto(url)
    page.locator(".bk-tab", has_text="Point Map").click()
    page.locator(".fp-map .bk-Canvas").first.wait_for()
    page.get_by_placeholder(SEARCH).wait_for()


def place_names(page: Any) -> list[str]:
    names: list[str] = page.evaluate(BOKEH_DATA, "place")
    return names


PUBLISHED = {"map-found-1280", "map-found-390", "map-saved-1280"}  # shown in the README / kept in docs


def screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("FORECAST_PANEL_UPDATE_SCREENSHOT") == "1" and name in PUBLISHED:
        target = ROOT / "docs" / "images" / f"{name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    return path


def search(page: Any, text: str) -> None:
    """Type ``text`` key by key, then wait until the results on screen are those of the whole
    text: each key re-labels the result buttons, and a click on a button being re-labelled
    picks whatever it shows at that moment."""
    box = page.get_by_placeholder(SEARCH)
    box.fill("")
    box.press_sequentially(text, delay=30)
    expected = [result_label(match.place) for match in gazetteer().search(text.strip(), limit=RESULTS)]

    def shown() -> list[str]:
        buttons = page.locator(".fp-result button")
        return [buttons.nth(i).inner_text().strip() for i in range(buttons.count()) if buttons.nth(i).is_visible()]

    seen: list[list[str]] = [[]]

    def settled() -> bool:
        seen[0] = shown()
        return seen[0] == expected

    try:
        wait_until(settled, message=f"the results of {text!r}: {expected}")
    except AssertionError as error:
        raise AssertionError(f"{error}; on screen: {seen[0]}") from None


def preview_text(page: Any) -> str:
    body = page.locator(".fp-preview-body").first
    body.wait_for()
    text: str = body.inner_text()
    return text


@pytest.fixture
def served(app_store: Path, tmp_path: Path) -> Iterator[str]:
    server, url = serve_app(app_store, tmp_path)
    yield url
    server.stop()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_find_a_place_by_partial_name_and_with_accents(
    browser: Any, served: str, viewport: str, tmp_path: Path
) -> None:
    page = new_page(browser, viewport)
    try:
        open_map(page, served)
        wait_until(lambda: "Denver" in place_names(page), message="place names on the offline map")
        initial = set(place_names(page))
        screenshot(page, tmp_path, f"map-{VIEWPORTS[viewport]['width']}")
        search(page, "sao pa")
        page.locator(".fp-result", has_text="São Paulo — Brazil").wait_for()
        search(page, "Zür")
        zurich = page.locator(".fp-result", has_text="Zürich — Switzerland")
        zurich.wait_for()
        assert page.locator(".fp-result", has_text="Kreis").count() == 0, "districts do not crowd the city out"
        search(page, "bould")
        boulder = page.locator(".fp-result", has_text="Boulder — Colorado, United States").first
        boulder.wait_for()
        screenshot(page, tmp_path, f"map-search-{VIEWPORTS[viewport]['width']}")
        boulder.click()
        text = preview_text(page)
        assert "Boulder, Colorado, United States" in text and "40.0150° N, 105.2706° W" in text
        assert text.count("km away") == 2, "the nearest grid cell of both sources"
        assert page.get_by_placeholder("e.g. My Cabin").input_value() == "Boulder", "the name is filled in"
        wait_until(
            lambda: "Boulder" in place_names(page) and set(place_names(page)) != initial,
            message="the place names follow the map to Boulder",
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[viewport]["width"]
        screenshot(page, tmp_path, f"map-found-{VIEWPORTS[viewport]['width']}")
        search(page, "qqzzx")
        page.get_by_text("No place called “qqzzx”").wait_for()
        assert not page.dialogs
    finally:
        page.context.close()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_coordinates_in_decimal_and_dms_with_clear_errors(browser: Any, served: str, viewport: str) -> None:
    page = new_page(browser, viewport)
    try:
        open_map(page, served)
        field = page.get_by_placeholder(COORDINATES)
        field.fill("39.7392, -104.9903")
        field.press("Enter")
        wait_until(lambda: "39.7392° N, 104.9903° W" in preview_text(page), message="decimal position")
        field.fill("39°38'0\"N 105°19'2\"W")
        page.get_by_role("button", name="Go", exact=True).click()
        wait_until(lambda: "39.6333° N, 105.3172° W" in preview_text(page), message="DMS position")
        field.fill("39 75 0 N 104 0 0 W")
        field.press("Enter")
        page.get_by_text("minutes must be from 0 to below 60, not 75").wait_for()
        field.fill("95, 10")
        field.press("Enter")
        page.get_by_text("latitude must be between -90 and 90").wait_for()
    finally:
        page.context.close()


def test_my_location_when_allowed_and_when_denied(browser: Any, served: str) -> None:
    allowed = new_page(
        browser, "phone", permissions=["geolocation"], geolocation={"latitude": 39.6333, "longitude": -105.3172}
    )
    denied = new_page(browser, "desktop")
    try:
        open_map(allowed, served)
        allowed.get_by_role("button", name="Use my location").click()
        wait_until(lambda: "39.6333° N, 105.3172° W" in preview_text(allowed), message="the browser's location")
        assert "Your location" in preview_text(allowed)
        assert allowed.get_by_placeholder(COORDINATES).input_value() == "39.63330, -105.31720"
        open_map(denied, served)
        denied.get_by_role("button", name="Use my location").click()
        denied.get_by_text("did not allow this page to know your location").wait_for()
        assert denied.locator(".fp-preview-body").count() == 0 or not denied.locator(".fp-preview-body").is_visible()
    finally:
        allowed.context.close()
        denied.context.close()


def test_overlay_speaks_display_names_units_and_local_times(browser: Any, served: str, tmp_path: Path) -> None:
    page = new_page(browser, "desktop")
    try:
        open_map(page, served)
        wait_until(lambda: bool(page.evaluate(COLOR_BAR_TITLES)), message="the overlay's colour bar")
        titles = page.evaluate(COLOR_BAR_TITLES)
        assert any("Temperature (2 m), ensemble median (°C)" in title for title in titles), titles
        selects = page.locator(".fp-overlay-controls select")
        variables = selects.nth(0).locator("option").all_inner_texts()
        assert "Temperature (2 m)" in variables and not any("_" in item for item in variables), variables
        leads = selects.nth(1).locator("option").all_inner_texts()
        assert leads and all(LOCAL_TIME.match(item) for item in leads), leads
        assert all(value == value for value in page.evaluate(BOKEH_DATA, "median"))
        selects.nth(0).select_option(label="Wind speed (10 m)")
        wait_until(
            lambda: any("Wind speed (10 m)" in title for title in page.evaluate(COLOR_BAR_TITLES)),
            message="the colour bar follows the variable",
        )
        screenshot(page, tmp_path, "map-overlay-1280")
    finally:
        page.context.close()


def test_tiles_that_cannot_load_give_place_names_and_the_overlay(browser: Any, app_store: Path, tmp_path: Path) -> None:
    with reserved_port() as port, reserved_port() as closed:  # nothing listens on ``closed``: every tile fails
        tiles = f"http://127.0.0.1:{closed}/{{Z}}/{{X}}/{{Y}}.png"
        args = ["serve", "--store", str(app_store), "--port", str(port), "--tiles", tiles]
        server = Server(args, f"http://127.0.0.1:{port}/liveness", tmp_path / "serve-tiles.log")
        page = new_page(browser, "desktop")
        _tiles_fail(page, port, server)


def _tiles_fail(page: Any, port: int, server: Server) -> None:
    try:
        open_map(page, f"http://127.0.0.1:{port}")
        page.get_by_text("Map tiles cannot be loaded here").wait_for()
        wait_until(lambda: "Denver" in place_names(page), message="place names instead of tiles")
        wait_until(lambda: bool(page.evaluate(COLOR_BAR_TITLES)), message="the map summary instead of tiles")
    finally:
        page.context.close()
        server.stop()


@pytest.fixture
def extracting_api(fresh_store: Path, tmp_path: Path) -> Iterator[str]:
    """The local write-back API that runs a targeted extraction after each create (as the demo)."""
    with reserved_port() as port:
        server = Server(
            ["api", "--store", str(fresh_store), "--port", str(port)],
            f"http://127.0.0.1:{port}/health",
            tmp_path / "api-extract.log",
        )
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_save_a_found_place_and_see_its_forecast_without_a_reload(
    browser: Any, fresh_store: Path, extracting_api: str, tmp_path: Path
) -> None:
    server, url = serve_app(fresh_store, tmp_path, api=extracting_api)
    page = new_page(browser, "desktop")
    try:
        open_map(page, url)
        search(page, "evergr")
        page.locator(".fp-result", has_text="Evergreen — Colorado, United States").first.click()
        preview_text(page)
        page.get_by_role("button", name="Save point").click()
        page.locator(".fp-saved").first.wait_for()
        listed = json.loads(page.request.get(f"{extracting_api}/points").text())
        assert any(point["point_name"] == "Evergreen" for point in listed["points"]), "saved through the API"
        row = page.locator(".fp-points tr", has_text="Evergreen")
        assert "forecast pending" in row.inner_text()
        assert page.locator("option", has_text="Evergreen (forecast pending)").count() == 1
        # the targeted extraction publishes a run; the page learns of it by itself
        wait_until(lambda: "forecast ready" in row.inner_text(), timeout=300, message="the new point's forecast")
        assert "new forecast run was published" in page.locator(".fp-run-note-text").inner_text()
        assert page.locator("option", has_text="Evergreen (forecast pending)").count() == 0
        screenshot(page, tmp_path, "map-saved-1280")
        page.get_by_role("button", name="Show its forecast").click()
        point = page.locator("select", has=page.locator("option", has_text="Evergreen"))
        wait_until(lambda: point.evaluate("s => s.options[s.selectedIndex].text") == "Evergreen", message="selected")
        assert not page.get_by_text("forecast pending: this point has no forecast yet").is_visible()
    finally:
        page.context.close()
        server.stop()


def test_axe_finds_no_violation_on_the_map_tab(browser: Any, served: str) -> None:
    if not AXE.exists():
        pytest.skip(f"axe-core is not installed at {AXE} (scripts/dev setup --with-browser installs it)")
    page = new_page(browser, "desktop")
    try:
        open_map(page, served)
        search(page, "bould")
        page.locator(".fp-result").first.wait_for()
        page.get_by_placeholder(COORDINATES).fill("95, 10")
        page.get_by_placeholder(COORDINATES).press("Enter")
        page.locator(".fp-error").first.wait_for()  # errors are readable too
        page.add_script_tag(path=str(AXE))
        result = page.evaluate(AXE_RUN)
        violations = [
            {
                "id": item["id"],
                "nodes": [node["target"] for node in item["nodes"]][:12],
                "html": [node["html"][:150] for node in item["nodes"]][:12],
            }
            for item in result["violations"]
        ]
        assert violations == [], json.dumps(violations, indent=1)
        checked = {item["id"]: len(item["nodes"]) for item in result["passes"]}
        assert checked.get("button-name", 0) >= 3 and checked.get("label", 0) >= 2, "the tab's widgets were checked"
    finally:
        page.context.close()
