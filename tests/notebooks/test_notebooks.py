"""Execute every notebook in ``notebooks/`` with nbclient, on the test interpreter's own kernel,
against a store like the demo's (``demo_like_store``).

The kernel spec is written into a temporary ``JUPYTER_PATH`` and points at ``sys.executable``, so
the notebooks run in the project's ``.venv`` on a fresh machine where only ``uv sync`` ran (no
``ipykernel install`` and no system-wide kernel that could shadow it). Cells tagged ``plot`` must
leave HoloViews/Panel or Bokeh output (the MIME types their notebook front-end extensions render).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL_NAME = "forecast-panel-tests"
# what HoloViews, hvplot and Panel objects (and bokeh.io.show) send to the notebook front end
PLOT_MIME_TYPES = {"application/vnd.holoviews_exec.v0+json", "application/vnd.bokehjs_exec.v0+json"}

pytestmark = [pytest.mark.notebook, pytest.mark.xdist_group("notebooks")]


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("jupyter")
    spec = base / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": KERNEL_NAME, "language": "python"}))
    return base


def test_the_four_notebooks() -> None:
    assert [path.name for path in NOTEBOOKS] == [
        "01_a_place.ipynb",
        "02_compare.ipynb",
        "03_raw_source.ipynb",
        "04_operating.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, f"{path.name} has no code"
    assert all(not cell.outputs and cell.execution_count is None for cell in code), f"clear outputs of {path.name}"
    assert any("plot" in cell.metadata.get("tags", []) for cell in code), f"{path.name} tags no plotting cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebooks_use_only_the_public_reader(path: Path) -> None:
    """Notebooks read published data through ``forecast_panel.open_store``, never by path."""
    source = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code")
    assert "fp.open_store(" in source
    for internal in ("pq.read_table", "read_parquet(", "DataStore(", "ArtifactStore(", "forecasts/source="):
        assert internal not in source, f"{path.name} uses {internal}"


def _plot_outputs(cell: nbformat.NotebookNode) -> set[str]:
    return {mime for output in cell.get("outputs", []) for mime in output.get("data", {}) if mime in PLOT_MIME_TYPES}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_executes(
    path: Path, demo_like_store: Path, kernel_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", str(kernel_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebooks' temporary folders end up here
    monkeypatch.setenv("FORECAST_STORE_URL", str(demo_like_store))
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL_NAME,
        timeout=540,  # per cell, a hang guard: a hung cell fails with nbclient's message before pytest's 600 s
        startup_timeout=180,
        resources={"metadata": {"path": str(ROOT / "notebooks")}},
    )
    client.execute()
    errors = [output for cell in notebook.cells for output in cell.get("outputs", []) if output.output_type == "error"]
    assert not errors, errors
    plots = [cell for cell in notebook.cells if "plot" in cell.metadata.get("tags", [])]
    silent = [cell.source.splitlines()[0] for cell in plots if not _plot_outputs(cell)]
    assert not silent, f"{path.name}: plotting cells without Bokeh/HoloViews output: {silent}"
