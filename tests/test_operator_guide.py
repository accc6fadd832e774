"""docs/operator-guide.md's worked example (a new source and a new variable by configuration)
runs as written: the test takes the bash block after its marker and runs it in a scratch folder
with the project's ``.venv/bin`` first on PATH, as the guide tells the reader to."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "operator-guide.md"
MARKER = "<!-- example: add-source-and-variable"


def example_script() -> str:
    text = GUIDE.read_text()
    start = text.index(MARKER)
    match = re.search(r"```bash\n(.*?)\n```", text[start:], re.DOTALL)
    assert match, "the worked example's bash block follows its marker"
    return match.group(1)


@pytest.mark.slow
def test_the_worked_example_runs_as_written(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", example_script()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=560,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    printed = done.stdout.split("wrote ")[-1]
    assert "gefs_zarr" in printed and "GEFS (Zarr v3 copy)" in printed
    rain = dict(re.findall(r"^(gefs|gefs_zarr|ecmwf_ifs_ens)\s+([0-9.]+)$", done.stdout, re.MULTILINE))
    assert set(rain) == {"gefs", "gefs_zarr", "ecmwf_ifs_ens"}, done.stdout[-2000:]
    assert rain["gefs_zarr"] == rain["gefs"] and float(rain["gefs"]) > 0
