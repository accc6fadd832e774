"""Packaging rules: environment.yml agrees with pyproject, light runtimes stay light, style holds."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
_REQUIREMENT = re.compile(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$")


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += [item for item in extra if not item.startswith("forecast-panel")]
    found: dict[str, str] = {}
    for requirement in requirements:
        match = _REQUIREMENT.match(requirement)
        assert match, requirement
        name, spec = match.group(1).lower(), match.group(3).replace(" ", "")
        assert found.get(name, spec) == spec, f"{name} has two different bounds in pyproject"
        found[name] = spec
    return found


def _environment_requirements() -> dict[str, str]:
    document = yaml.safe_load((ROOT / "environment.yml").read_text())
    found: dict[str, str] = {}
    for item in document["dependencies"]:
        assert isinstance(item, str), "list conda packages only (no pip: section)"
        match = _REQUIREMENT.match(item)
        assert match, item
        found[match.group(1).lower()] = match.group(3).replace(" ", "")
    return found


def test_environment_yml_agrees_with_pyproject() -> None:
    environment = _environment_requirements()
    assert environment.pop("python") == ">=3.12"
    assert environment == _pyproject_requirements()


def test_lock_file_is_current() -> None:
    if shutil.which("uv") is None:
        pytest.skip("uv is not on PATH (scripts/dev puts it there)")
    result = subprocess.run(
        ["uv", "lock", "--check", "--offline"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("forecast_core.store", ["dask", "distributed", "panel", "xarray", "extraction", "forecast_panel"]),
        ("forecast_core.json_schemas", ["dask", "panel", "xarray", "pyarrow", "extraction"]),
        ("forecast_core.cli", ["dask", "panel", "xarray", "pyarrow", "extraction", "forecast_panel"]),
        # the rule model and the registry are the Lambda's too: no numpy there
        ("forecast_core.alerts", ["numpy", "pyarrow", "dask", "panel", "xarray", "extraction"]),
        ("forecast_core.alert_status", ["numpy", "pyarrow", "dask", "panel", "xarray", "extraction"]),
        ("forecast_alerts.cli", ["dask", "distributed", "panel", "xarray", "extraction", "forecast_panel"]),
        ("forecast_alerts.run", ["dask", "distributed", "panel", "xarray", "extraction", "forecast_panel"]),
    ],
)
def test_light_modules_do_not_pull_heavy_dependencies(module: str, forbidden: list[str]) -> None:
    code = (
        f"import sys, importlib; importlib.import_module({module!r}); "
        f"bad = [m for m in {forbidden!r} if m in sys.modules]; print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == "", f"{module} imports {result.stdout.strip()}"


def test_ruff_lint_and_format() -> None:
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_mypy_type_check() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_modules_stay_small() -> None:
    too_long = []
    for folder in ["forecast_core", "extraction", "forecast_panel", "forecast_smoke", "lambda", "benchmarks"]:
        for path in (ROOT / folder).rglob("*.py"):
            lines = len(path.read_text().splitlines())
            if lines > 450:
                too_long.append(f"{path.relative_to(ROOT)}: {lines}")
    assert not too_long, f"split these modules (limit ~400 lines): {too_long}"
