"""deploy/samconfig.toml: each environment's parameters exist in the template and satisfy its rules."""

from __future__ import annotations

import re
import shlex
import tomllib
from typing import Any

import pytest

from .conftest import DEPLOY, offline_checks

ENVIRONMENTS = ["dev", "prod"]


def overrides(environment: str) -> dict[str, str]:
    config = tomllib.loads((DEPLOY / "samconfig.toml").read_text())
    text = config[environment]["deploy"]["parameters"]["parameter_overrides"]
    found: dict[str, str] = {}
    for item in shlex.split(text):
        key, separator, value = item.partition("=")
        assert separator, f"{environment}: {item!r} is not Key=Value"
        found[key] = value
    return found


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_overrides_are_template_parameters(source_template: dict[str, Any], environment: str) -> None:
    parameters = source_template["Parameters"]
    values = overrides(environment)
    assert set(values) <= set(parameters), set(values) - set(parameters)
    required = {name for name, body in parameters.items() if "Default" not in body}
    assert required <= set(values), f"{environment}: no value for {required - set(values)}"
    assert values["EnvironmentName"] == environment


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_override_values_satisfy_the_parameter_rules(source_template: dict[str, Any], environment: str) -> None:
    parameters = source_template["Parameters"]
    for name, value in overrides(environment).items():
        rules = parameters[name]
        if "AllowedValues" in rules:
            assert value in [str(item) for item in rules["AllowedValues"]], (name, value)
        if "AllowedPattern" in rules:
            assert re.match(rules["AllowedPattern"], value), (name, value)
        if rules["Type"] == "Number":
            number = float(value)
            assert float(rules.get("MinValue", number)) <= number <= float(rules.get("MaxValue", number)), name
        if rules["Type"].startswith("List<"):
            assert all(item.strip() for item in value.split(",")), name


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_environment_expands_with_its_parameters(source_template: dict[str, Any], environment: str) -> None:
    values: dict[str, Any] = overrides(environment)
    for name in ("PublicSubnetIds", "PrivateSubnetIds"):
        values[name] = values[name].split(",")
    expanded = offline_checks.expand(source_template, values)
    assert expanded["Resources"]["PointsApiFunction"]["Type"] == "AWS::Lambda::Function"


def test_prod_is_protected_and_authenticated() -> None:
    prod = overrides("prod")
    assert prod["DeletionProtection"] == "true"
    assert prod["AuthMode"] in {"cognito", "oidc"}
    assert int(prod["AppDesiredCount"]) >= 2  # stickiness matters from two tasks on
