"""Packaging rules: environment.yml agrees with pyproject, light runtimes stay light, style holds."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
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
        ("forecast_cli.main", ["dask", "panel", "xarray", "pyarrow", "extraction", "forecast_panel"]),
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


HIGHER_PACKAGES = ("forecast_cli", "extraction", "forecast_panel", "forecast_smoke", "forecast_alerts", "points_api")


def _names_of_modules(tree: ast.AST) -> Iterator[str]:
    """Modules a file imports, or names as a string outside docstrings (``importlib`` targets)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.value


def test_forecast_core_names_no_package_above_it() -> None:
    """The contracts package sits at the bottom: it imports, or names for import, none of the
    packages built on it (the CLI dispatcher that names them all is ``forecast_cli``)."""
    found = []
    for path in (ROOT / "forecast_core").rglob("*.py"):
        for name in _names_of_modules(ast.parse(path.read_text())):
            if name.split(".")[0] in HIGHER_PACKAGES:
                found.append(f"{path.relative_to(ROOT)}: {name}")
    assert not found, found


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
            if lines > 400:
                too_long.append(f"{path.relative_to(ROOT)}: {lines}")
    assert not too_long, f"split these modules (limit ~400 lines): {too_long}"


def test_forecast_core_docstring_names_modules_that_exist() -> None:
    import forecast_core

    named = set(re.findall(r"`(\w+)`", forecast_core.__doc__ or "")) - set(HIGHER_PACKAGES) - {"extraction"}
    missing = sorted(name for name in named if not (ROOT / "forecast_core" / f"{name}.py").exists())
    assert not missing, f"forecast_core's docstring names modules that do not exist: {missing}"
