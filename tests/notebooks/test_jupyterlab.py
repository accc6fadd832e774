"""JupyterLab, as a user opens it, on notebook 01: running it draws the dashboard's meteogram inline.

A real ``jupyter lab`` (the ``notebook`` extra) on a loopback port with a copy of the notebook
(so nothing writes outputs into the repository), driven by Debian's chromium through Playwright:
run all cells, then wait for the meteogram's temperature panel (its Bokeh canvas) in the output
area and its header naming the point and its time zone. The Panel and Bokeh
output reaches the page through pyviz_comms' lab extension, which is what this test proves.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.app.conftest import Server
from tests.ports import reserved_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.ui, pytest.mark.notebook, pytest.mark.xdist_group("notebooks")]
SCREENSHOT = os.environ.get("FORECAST_PANEL_NOTEBOOK_SCREENSHOT")  # a path: keep a picture of the page


@pytest.fixture
def jupyterlab(demo_like_store: Path, tmp_path: Path) -> Iterator[str]:
    work = tmp_path / "lab"
    work.mkdir()
    shutil.copy(ROOT / "notebooks" / "01_a_place.ipynb", work)
    with reserved_port() as port:
        url, server = _start_lab(port, work, demo_like_store, tmp_path)
    yield url
    server.stop()


def _start_lab(port: int, work: Path, demo_like_store: Path, tmp_path: Path) -> tuple[str, Server]:
    env = {
        "FORECAST_STORE_URL": str(demo_like_store),
        "TMPDIR": str(tmp_path),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    args = ["--no-browser", f"--port={port}", "--ip=127.0.0.1", "--allow-root", f"--ServerApp.root_dir={work}"]
    args += ["--IdentityProvider.token=", "--ServerApp.password=", "--LabApp.expose_app_in_browser=True"]
    url = f"http://127.0.0.1:{port}"
    program = [sys.executable, "-m", "jupyterlab"]
    log = tmp_path / "jupyterlab.log"
    return url, Server(args, f"{url}/api/status", log, program=program, env=env, cwd=work)


def test_jupyterlab_draws_the_meteogram_of_notebook_01(browser: Any, jupyterlab: str, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(300000)
    page = context.new_page()
    try:
        page.goto(f"{jupyterlab}/lab/tree/01_a_place.ipynb")
        page.locator(".jp-Notebook").first.wait_for()
        ready = "() => window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'"
        page.wait_for_function(ready, polling=500)
        # not awaited: its promise ends with the last cell
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        plot = page.locator(".jp-OutputArea-output .fp-panel-temperature .bk-Canvas").first
        plot.wait_for()
        plot.scroll_into_view_if_needed()
        page.wait_for_timeout(500)  # the first paint after the canvas appears
        colours = Image.open(io.BytesIO(plot.screenshot())).convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 20, "the meteogram's canvas is blank"
        box = plot.bounding_box()
        assert box is not None and box["height"] > 150 and box["width"] > 400
        header = page.locator(".jp-OutputArea-output .fp-title").first
        assert "Boulder Flatirons" in header.inner_text() and "America/Denver" in header.inner_text()
        strip = page.locator(".jp-OutputArea-output .fp-strip .bk-Canvas").first
        assert strip.is_visible(), "the probability strip under the panels"
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        tracebacks = [text for text in errors.all_inner_texts() if "Traceback" in text or "Error" in text]
        assert not tracebacks, tracebacks
        if SCREENSHOT:
            plot.scroll_into_view_if_needed()
            page.screenshot(path=SCREENSHOT)
    except Exception:
        page.screenshot(path=str(tmp_path / "jupyterlab-failed.png"))
        raise
    finally:
        context.close()
