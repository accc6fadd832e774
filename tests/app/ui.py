"""Helpers of the browser tests: waiting on conditions, opening the app, reading Bokeh's models
in the page, axe-core (installed from npm by ``scripts/dev setup --with-browser``)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.app.conftest import ROOT

AXE = ROOT / ".tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"


def wait_until(check: Callable[[], bool], timeout: float = 30.0, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {message}")


def open_app(page: Any, url: str) -> None:
    page.goto(url)
    page.locator(".fp-title").first.wait_for()
    page.locator(".fp-panel-temperature .bk-Canvas").first.wait_for()
    wait_until(lambda: revision(page) >= 0, message="the meteogram's document")


def header(page: Any) -> str:
    text: str = page.locator(".fp-title").first.inner_text()
    return text


MODELS = """(args) => { const [kind, key] = args; const out = [];
  for (const doc of Bokeh.documents) for (const model of doc.all_models) {
    if (kind === "name" && model.name === key) out.push(model);
    if (kind === "class" && model.css_classes && model.css_classes.includes(key)) out.push(model);
    if (kind === "type" && model.type === key) out.push(model);
  } return out }"""


def revision(page: Any) -> int:
    """The meteogram's redraw revision (its layout's ``tags``), −1 before the document exists."""
    found: int = page.evaluate(
        f"""() => {{ const models = ({MODELS})(["class", "fp-meteogram"]);
        return models.length ? (models[0].tags[0] ?? 0) : -1 }}"""
    )
    return found


def source_data(page: Any, name: str) -> dict[str, list[Any]]:
    """A named ColumnDataSource's columns as the page holds them (times as epoch ms)."""
    data: dict[str, list[Any]] = page.evaluate(
        f"""() => {{ const [model] = ({MODELS})(["name", {json.dumps(name)}]); const out = {{}};
        for (const [key, values] of Object.entries(model.data)) out[key] = Array.from(values); return out }}"""
    )
    return data


def texts(page: Any, kind: str) -> list[str]:
    """The ``text`` of every model of a type (plot titles, axis labels are drawn on canvas)."""
    found: list[str] = page.evaluate(
        f"""() => ({MODELS})(["type", {json.dumps(kind)}]).map((m) => String(m.text ?? m.axis_label ?? ""))"""
    )
    return found


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (every rule, shadow roots included)."""
    if not AXE.exists():
        pytest.fail("axe-core is not installed: run scripts/dev setup --with-browser")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + n.failureSummary)}))"""
    )
    return result
