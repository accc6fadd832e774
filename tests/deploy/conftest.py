"""Fixtures of the deploy tests: the SAM template, its offline expansion, and helpers on intrinsics."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _load_offline_checks() -> ModuleType:
    name = "deploy_offline_checks"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DEPLOY / "tools" / "offline_checks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


offline_checks = _load_offline_checks()


@pytest.fixture(scope="session")
def source_template() -> dict[str, Any]:
    """deploy/template.yaml as data (before the SAM transform)."""
    return offline_checks.load_template()


@pytest.fixture(scope="session")
def expanded(source_template: dict[str, Any]) -> dict[str, Any]:
    """The template after the SAM transform, as CloudFormation deploys it."""
    return offline_checks.expand(source_template)


@pytest.fixture(scope="session")
def resources(expanded: dict[str, Any]) -> dict[str, Any]:
    return expanded["Resources"]


def of_type(resources: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """Logical id → properties of every resource of ``kind``."""
    return {name: body.get("Properties", {}) for name, body in resources.items() if body["Type"] == kind}


def render(value: Any) -> Any:
    """An intrinsic as one readable string: GetAtt X.Arn → ``${X.Arn}``, Ref X → ``${X}``, Sub kept."""
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return f"${{{argument}}}"
        if function == "Fn::GetAtt":
            return "${" + (".".join(argument) if isinstance(argument, list) else argument) + "}"
        if function == "Fn::Sub":
            return argument if isinstance(argument, str) else argument[0]
        if function == "Fn::Join":
            return argument[0].join(str(render(item)) for item in argument[1])
    if isinstance(value, list):
        return [render(item) for item in value]
    return value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
