"""Execute every notebook in ``notebooks/`` with nbclient, on the test interpreter's own kernel.

The kernel spec is written into a temporary ``JUPYTER_PATH`` and points at ``sys.executable``, so
the notebooks run in the project's ``.venv`` on a fresh machine where only ``uv sync`` ran (no
``ipykernel install`` and no system-wide kernel that could shadow it).
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

pytestmark = [pytest.mark.notebook, pytest.mark.xdist_group("notebooks")]


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("jupyter")
    spec = base / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": KERNEL_NAME, "language": "python"}))
    return base


def test_there_are_notebooks() -> None:
    assert [path.name for path in NOTEBOOKS][:2] == ["01_sample_sources.ipynb", "02_artifacts.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, f"{path.name} has no code"
    assert all(not cell.outputs and cell.execution_count is None for cell in code), f"clear outputs of {path.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_executes(path: Path, kernel_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", str(kernel_path))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebooks' temporary folders end up here
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name=KERNEL_NAME,
        timeout=540,  # a hung cell fails with nbclient's message before pytest's 600 s timeout
        resources={"metadata": {"path": str(ROOT / "notebooks")}},
    )
    client.execute()
    errors = [output for cell in notebook.cells for output in cell.get("outputs", []) if output.output_type == "error"]
    assert not errors
    images = [
        output for cell in notebook.cells for output in cell.get("outputs", []) if "image/png" in output.get("data", {})
    ]
    assert images, f"{path.name} drew no figure"
