"""Browser tests of the alerts section: a point's rules with the ones that fired in the latest run,
a real tap on a consensus cell of the probability strip that prefills a rule, adding it through
the write-back API, the phone layout, axe-core. Screenshots (1280 and 390 px) are written next to
the test's files, and to docs/images with ``FORECAST_PANEL_UPDATE_SCREENSHOT=1``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from forecast_core.alerts import RulePayload
from forecast_core.points_client import HttpPointsClient
from forecast_panel.data import DataStore
from forecast_panel.selection import MeteogramSelection
from forecast_panel.state import OverviewState
from tests.app.conftest import CLI, ROOT, serve_app
from tests.app.ui import axe_violations, open_app, wait_until

pytestmark = pytest.mark.ui
IMAGES = ROOT / "docs" / "images"
SOURCES = quote(json.dumps(["gefs", "ecmwf_ifs_ens", "consensus"]))
CELL = """([heading, row]) => {
  const models = []; for (const doc of Bokeh.documents) models.push(...doc.all_models);
  const strip = models.find((m) => m.css_classes && m.css_classes.includes('fp-strip'));
  const rows = models.find((m) => m.name === 'fp-strip-rows').data.label;
  const cells = models.find((m) => m.name === 'fp-strip').data;
  const y = rows.findIndex((label) => label.startsWith(heading) && label.endsWith(row));
  const index = Array.from(cells.y).findIndex((value, i) => value === y && i > 0 && cells.x[i] > cells.x[0]);
  const view = Bokeh.index.find_one(strip);
  const rect = view.el.getBoundingClientRect();
  return {x: rect.left + view.frame.x_scale.compute(cells.x[index]),
          y: rect.top + view.frame.y_scale.compute(y), p: cells.p[index], index: index}
}"""


def _shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / name))
    if os.environ.get("FORECAST_PANEL_UPDATE_SCREENSHOT") == "1":
        IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMAGES / name))


@pytest.fixture
def alerted(fresh_store: Path, api_server: str) -> tuple[str, str]:
    """A rule on the overview's first point that holds (some precipitation is certain), evaluated
    by ``forecast-panel alerts evaluate``; returns (point id, rule id)."""
    point = OverviewState(DataStore(str(fresh_store)), MeteogramSelection()).selection.point
    condition = {"kind": "probability", "variable_id": "precipitation", "window": {"end_hours": 72},
                 "reduce": "total", "comparison": ">=", "threshold": 0.0, "unit": "mm",
                 "min_probability": 50.0}  # fmt: skip
    rule = HttpPointsClient(api_server).create_rule(
        RulePayload.model_validate(
            {"point_id": point, "created_by": "tests", "label": "Any rain in 3 days", "condition": condition}
        )
    )
    done = subprocess.run([*CLI, "alerts", "evaluate", "--store", str(fresh_store)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return str(point), rule.rule_id


def test_rules_fired_and_a_strip_tap_adds_a_consensus_rule(
    browser: Any, fresh_store: Path, api_server: str, alerted: tuple[str, str], tmp_path: Path
) -> None:
    point, _ = alerted
    server, url = serve_app(fresh_store, tmp_path, api_server)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30000)
    page = context.new_page()
    try:
        open_app(page, f"{url}/?sources={SOURCES}")
        rule = page.locator("td", has_text="Any rain in 3 days").first  # Playwright's CSS sees into shadow roots
        rule.wait_for()
        rule.scroll_into_view_if_needed()
        assert page.locator(".fp-badge", has_text="fired in the latest run").count() == 1
        assert page.get_by_text("1 fired in the latest run").count() == 1
        page.locator(".fp-strip .bk-Canvas").first.scroll_into_view_if_needed()
        cell = page.evaluate(CELL, ["Snowfall", "Consensus"])
        assert cell["index"] > 0
        page.mouse.click(cell["x"], cell["y"])  # a real tap on the cell
        page.get_by_text("Prefilled from the probability strip").first.wait_for()
        page.get_by_role("button", name="Add alert").scroll_into_view_if_needed()
        _shot(page, tmp_path, "alerts-desktop.png")
        page.get_by_role("button", name="Add alert").click()
        client = HttpPointsClient(api_server)
        wait_until(lambda: len(client.list_rules(point)) == 2, message="the new rule")
        added = next(rule for rule in client.list_rules(point) if rule.condition.source == "consensus"
                     and rule.condition.variable_id == "snowfall")  # fmt: skip
        condition = added.condition
        assert condition.kind == "probability" and condition.reduce == "total" and condition.comparison == ">"
        assert (
            condition.window.start_hours >= 0 and 23 <= condition.window.end_hours - condition.window.start_hours <= 25
        )
        assert condition.unit == "mm" and condition.threshold > 0
        page.get_by_text("Alert added").first.wait_for()
        wait_until(lambda: page.locator("td", has_text="not evaluated yet").count() == 1, message="the new rule")
        found = axe_violations(page)
        assert not found, found
    finally:
        context.close()
        server.stop()


def test_phone_shows_the_rules_under_the_meteogram(
    browser: Any, fresh_store: Path, api_server: str, alerted: tuple[str, str], tmp_path: Path
) -> None:
    server, url = serve_app(fresh_store, tmp_path, api_server)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    context.set_default_timeout(30000)
    page = context.new_page()
    try:
        open_app(page, f"{url}/?sources={SOURCES}")
        badge = page.locator(".fp-badge", has_text="fired in the latest run").first
        badge.wait_for()
        badge.scroll_into_view_if_needed()
        box = page.locator("table", has_text="Any rain in 3 days").first.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        page.get_by_text("New alert for this point").first.tap()
        page.locator(".fp-alert-form").first.scroll_into_view_if_needed()
        _shot(page, tmp_path, "alerts-phone.png")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390 + 1  # no sideways scrolling
    finally:
        context.close()
        server.stop()
