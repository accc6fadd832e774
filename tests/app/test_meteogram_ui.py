"""Browser tests of the meteogram: panels and the shared hover, the probability strip against the
members, local time in another continent, the phone layout, the page's unit system, axe-core on
every tab and width, and no request to any host but the app's. The README screenshots (desktop
and phone) are refreshed here with ``FORECAST_PANEL_UPDATE_SCREENSHOT=1``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pytest

from forecast_core.init_store import init_store, load_registry_file
from forecast_core.points import Point, PreCannedPoints
from forecast_core.store import ArtifactStore
from forecast_panel.data import DataStore
from tests.app.conftest import ROOT, TINY_POINTS, serve_app
from tests.app.ui import axe_violations, header, open_app, revision, source_data, texts, wait_until

pytestmark = pytest.mark.ui
IMAGES = ROOT / "docs" / "images"
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
DAY_MS = 86_400_000
PANEL_NAMES = ("temperature", "precipitation", "wind")


def _context(browser: Any, viewport: dict[str, int]) -> Any:
    phone = viewport["width"] < 500
    context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone)
    context.set_default_timeout(30000)
    return context


@pytest.fixture
def desktop(browser: Any) -> Iterator[Any]:
    context = _context(browser, DESKTOP)
    yield context.new_page()
    context.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = _context(browser, PHONE)
    yield context.new_page()
    context.close()


def _save(page: Any, name: str) -> None:
    if os.environ.get("FORECAST_PANEL_UPDATE_SCREENSHOT") == "1":  # refresh the README images on demand
        IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMAGES / name))


def _hover(page: Any, css: str, fraction: float) -> None:
    page.locator(f"{css} .bk-Canvas").first.scroll_into_view_if_needed()
    box = page.locator(f"{css} .bk-Canvas").first.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * fraction, box["y"] + box["height"] * 0.5)


def _record_host(hosts: set[str], url: str) -> None:
    """The host of a network request (blob: and data: URLs are the page's own memory)."""
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https", "ws", "wss"):
        hosts.add(parsed.netloc)


def _readout(page: Any) -> str:
    found: list[str] = page.evaluate(
        """() => { for (const doc of Bokeh.documents) for (const m of doc.all_models)
          if (m.css_classes && m.css_classes.includes("fp-readout")) return [m.text]; return [""] }"""
    )
    return found[0]


def test_three_panels_share_one_time_axis_and_one_hover_line(desktop: Any, app_url: str) -> None:
    page = desktop
    open_app(page, app_url)
    for panel in ("temperature", "precipitation", "wind"):
        page.locator(f".fp-panel-{panel} .bk-Canvas").first.wait_for()
    page.locator(".fp-strip .bk-Canvas").first.wait_for()
    _hover(page, ".fp-panel-wind", 0.25)
    wait_until(lambda: "Wind" in _readout(page), message="the hover readout")
    text = _readout(page)
    assert "Temperature" in text and "Precipitation" in text and "Wind" in text, "one hover reads every panel"
    assert "GEFS" in text and "ENS" in text and "%" in text, "both sources and the strip's probabilities"
    spans = page.evaluate(
        """() => { const out = new Set(); for (const doc of Bokeh.documents) for (const m of doc.all_models)
          if (m.type === "CrosshairTool") out.add(m.overlay.id); return out.size }"""
    )
    assert spans == 1, "every panel's crosshair draws the same span"
    ranges = page.evaluate(
        """() => { const out = new Set(); for (const doc of Bokeh.documents) for (const m of doc.all_models)
          if (m.type === "Figure" && m.visible) out.add(m.x_range.id); return out.size }"""
    )
    assert ranges == 1, "linked pan and zoom: one x range"
    before = revision(page)
    page.locator("label", has_text="Wind speed").first.click()
    wait_until(lambda: revision(page) > before, message="redraw without the wind panel")
    assert not page.locator(".fp-panel-wind .bk-Canvas").first.is_visible()
    assert "panels=" in page.url and "wind" not in page.url.split("panels=")[1].split("&")[0]
    page.locator("label", has_text="Wind speed").first.click()
    wait_until(lambda: page.locator(".fp-panel-wind .bk-Canvas").first.is_visible(), message="wind panel back")
    page.locator("select").nth(0).select_option(label="Aspen Cabin")
    wait_until(lambda: "Aspen Cabin" in header(page), message="the screenshot's point")
    _hover(page, ".fp-panel-temperature", 0.3)
    page.wait_for_timeout(300)
    _save(page, "overview.png")


def test_probability_strip_numbers_match_the_members(desktop: Any, app_url: str, app_store: Path) -> None:
    page = desktop
    open_app(page, app_url)
    point = {name: pid for pid, name, _, _ in TINY_POINTS}[page.locator("select").nth(0).input_value()]
    cells = source_data(page, "fp-strip")
    rows = source_data(page, "fp-strip-rows")["label"]
    assert cells["p"], "the strip has cells"
    datastore = DataStore(str(app_store))
    checked = 0
    for label, variable, source in (
        ("Precipitation &gt; 5 mm · GEFS", "precipitation", "gefs"),
        ("Snowfall &gt; 5 mm · ENS", "snowfall", "ecmwf_ifs_ens"),
    ):
        row = rows.index(label)
        shown = {
            round(x / DAY_MS, 3): p for x, y, p in zip(cells["x"], cells["y"], cells["p"], strict=True) if y == row
        }
        expected = _daily_exceedance(datastore.members(source, variable, point), 5.0, "America/Denver")
        assert expected, "the members have whole local days"
        for day, probability in expected.items():
            noon = (pd.Timestamp(day) + pd.Timedelta(hours=12)).value / 1e6  # the local noon as wall time
            assert shown[round(noon / DAY_MS, 3)] == pytest.approx(probability), (label, day)
            checked += 1
    assert checked > 10
    _hover(page, ".fp-strip", 0.3)
    wait_until(lambda: "Precipitation &gt; 5 mm · GEFS: <b>" in _readout(page), message="the numbers on hover")


def _daily_exceedance(members: pd.DataFrame, threshold: float, zone: str) -> dict[str, float]:
    """P(local day's total > threshold) in %, by pandas, independently of the app's numpy code."""
    members = members[members["lead_hours"] > 0]
    ends = members["valid_time"] - pd.Timedelta(microseconds=1)
    members = members.assign(day=ends.dt.tz_convert(zone).dt.date.astype(str))
    leads = members.drop_duplicates("lead_hours").sort_values("lead_hours")
    steps = leads.assign(step=leads["lead_hours"].diff().fillna(leads["lead_hours"].iloc[0]))
    hours = steps.groupby("day")["step"].sum()
    totals = members.groupby(["day", "ensemble_member"])["value"].agg(lambda v: v.sum(min_count=len(v)))
    out = {}
    for day, covered in hours.items():
        values = totals.loc[day].dropna().to_numpy()
        if covered == 24 and values.size:  # a whole day some member completes
            out[day] = float(100.0 * np.mean(values > threshold))
    return out


@pytest.fixture(scope="module")
def sydney_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store on a sample region in Australia (``sample-data --region``), written by the pipeline."""
    folder = tmp_path_factory.mktemp("sydney")
    env = {**os.environ, "ICECHUNK_LOG": "error"}
    cli = [sys.executable, "-m", "forecast_cli"]
    region = ["--region=-34.5,-33,150,152"]  # one argument: the value starts with a minus
    subprocess.run([*cli, "sample-data", "--out", str(folder / "sources"), "--size", "tiny", *region],
                   check=True, env=env, capture_output=True, timeout=300)  # fmt: skip
    created = datetime(2026, 11, 1, tzinfo=UTC)
    points = [
        Point(point_id="blue-mountains", point_name="Blue Mountains Hut", latitude=-33.7, longitude=150.3,
              created_by="tests", created_utc=created, updated_utc=created, tags=[]),
        Point(point_id="sydney-harbour", point_name="Sydney Harbour", latitude=-33.86, longitude=151.21,
              created_by="tests", created_utc=created, updated_utc=created, tags=[]),
    ]  # fmt: skip
    store = folder / "store"
    registry = load_registry_file(folder / "sources" / "source_registry.json")
    init_store(ArtifactStore(str(store)), registry, points=PreCannedPoints(generated_utc=created, points=points))
    extract = subprocess.run([*cli, "extract", "--store", str(store), "--no-progress"], env=env, capture_output=True,
                             text=True, timeout=600, cwd=ROOT)  # fmt: skip
    assert extract.returncode in (0, 1), extract.stdout + extract.stderr
    return store


def test_local_time_of_a_point_in_another_continent(desktop: Any, sydney_store: Path, tmp_path: Path) -> None:
    server, url = serve_app(sydney_store, tmp_path)
    try:
        page = desktop
        open_app(page, url)
        assert "times in Australia/Sydney" in header(page) and "UTC+11:00" in header(page)
        assert any("local time (Australia/Sydney)" in text for text in texts(page, "DatetimeAxis"))
        days = source_data(page, "fp-temperature-days")
        assert days["t"], "daily boxes"
        assert {round(t % DAY_MS) for t in days["t"]} == {12 * 3_600_000}, "each box at its local day's noon"
        datastore = DataStore(str(sydney_store))
        point = {"Blue Mountains Hut": "blue-mountains", "Sydney Harbour": "sydney-harbour"}[
            page.locator("select").nth(0).input_value()
        ]
        members = datastore.members("gefs", "temperature_2m", point)
        local = members["valid_time"].dt.tz_convert("Australia/Sydney")
        first_whole = sorted(set(local.dt.date))[1]  # the init's own local day began before the run
        assert (pd.Timestamp(first_whole) + pd.Timedelta(hours=12)).value / 1e6 == min(days["t"])
        _hover(page, ".fp-panel-temperature", 0.5)
        wait_until(lambda: "Temperature" in _readout(page), message="the hover readout")
        before = revision(page)
        page.get_by_role("button", name="UTC", exact=True).click()
        wait_until(lambda: revision(page) > before, message="redraw in UTC")
        assert "times in UTC" in header(page)
        utc = source_data(page, "fp-temperature-days")["t"]
        assert {round(t % DAY_MS) for t in utc} == {12 * 3_600_000} and min(utc) != min(days["t"])
    finally:
        server.stop()


def test_phone_gets_daily_boxes_and_no_horizontal_scroll(phone: Any, app_url: str) -> None:
    page = phone
    open_app(page, app_url + "?point=aspen-cabin")
    wait_until(lambda: len(source_data(page, "fp-temperature-days")["t"]) > 0, message="daily boxes")
    assert source_data(page, "fp-temperature-steps")["t"] == [], "no per-step boxes on a 390 px screen"
    seen: dict[str, object] = {}

    def phone_layout() -> bool:  # the responsive layout settles after the first paint
        boxes = [page.locator(f".fp-panel-{panel} .bk-Canvas").first.bounding_box() for panel in PANEL_NAMES]
        scroll_width = int(page.evaluate("document.documentElement.scrollWidth"))
        seen.update(boxes=boxes, scroll_width=scroll_width)
        inside = all(
            box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1 for box in boxes
        )
        wide = all(box is not None and box["width"] > 300 for box in boxes)  # the sidebar collapsed
        return inside and wide and scroll_width <= PHONE["width"]

    wait_until(phone_layout, message="the panels across the phone, no horizontal scroll", last_seen=lambda: seen)
    page.wait_for_timeout(300)
    _save(page, "overview-phone.png")


def test_unit_system_is_kept_across_variable_switches_and_reloads(desktop: Any, app_url: str) -> None:
    page = desktop
    open_app(page, app_url)
    before = revision(page)
    page.get_by_role("button", name="Imperial").click()
    wait_until(lambda: revision(page) > before, message="redraw in imperial units")
    wait_until(lambda: any("(°F)" in text for text in texts(page, "Title")), message="°F in the temperature title")
    before = revision(page)
    page.get_by_text("Precipitation as running total").click()
    wait_until(lambda: revision(page) > before, message="precipitation as a running total")
    before = revision(page)
    page.locator("label", has_text="Temperature").first.click()
    wait_until(lambda: revision(page) > before, message="temperature panel off")
    titles = texts(page, "Title")
    assert any("(in)" in text for text in titles) and any("(mph)" in text for text in titles)
    assert "units=imperial" in page.url
    page.goto(app_url)  # no query: the browser remembers the page's units
    page.locator(".fp-title").first.wait_for()
    wait_until(lambda: any("(°F)" in text for text in texts(page, "Title")), message="°F after a reload")
    assert any("(mph)" in text for text in texts(page, "Title"))


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_tab_has_no_axe_violations_and_no_third_party_request(
    browser: Any, app_url: str, viewport: dict[str, int]
) -> None:
    context = _context(browser, viewport)
    page = context.new_page()
    hosts: set[str] = set()
    page.on("request", lambda request: _record_host(hosts, request.url))
    try:
        open_app(page, app_url)
        page.wait_for_timeout(500)
        found = {"overview": axe_violations(page)}
        for tab, ready in (("Point Map", ".fp-points"), ("System Status", ".fp-status")):
            if viewport is PHONE:
                page.locator(".bk-tab", has_text=tab).first.scroll_into_view_if_needed()
            page.locator(".bk-tab", has_text=tab).first.click()
            page.locator(ready).first.wait_for()
            page.wait_for_timeout(500)
            found[tab] = axe_violations(page)
        assert all(not violations for violations in found.values()), found
        assert hosts == {urlparse(app_url).netloc}, f"requests to other hosts: {hosts}"
    finally:
        context.close()


FOCUSED = """() => { let e = document.activeElement;
  while (e && e.shadowRoot && e.shadowRoot.activeElement) e = e.shadowRoot.activeElement;
  if (!e) return ["", "none"];
  const style = getComputedStyle(e);
  return [(e.getAttribute("aria-label") || e.textContent || e.value || e.tagName).trim(),
          style.outlineStyle === "none" && style.boxShadow === "none" ? "none" : "visible"] }"""


def test_controls_and_tabs_are_reachable_and_operable_by_keyboard(desktop: Any, app_url: str) -> None:
    page = desktop
    open_app(page, app_url)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")  # from the page's start
    seen: list[tuple[str, str]] = []
    for _ in range(120):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        seen.append((focused[0], focused[1]))
        if focused[0] == "System Status":
            break
    names = [name for name, _ in seen]
    assert "Show or hide the forecast selection" in names, "the sidebar button takes the focus"
    assert any(name == "Imperial" for name in names) and "System Status" in names, names
    assert all(outline == "visible" for name, outline in seen if name in ("Imperial", "System Status")), seen
    page.keyboard.press("Enter")
    page.locator(".fp-status").first.wait_for()
