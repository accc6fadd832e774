"""Schemathesis on the ``/rules`` routes of the committed OpenAPI document, on the local server: no
5xx, documented status codes and bodies, and the API accepts a rule exactly when the strict model
and the store's config accept it (≥ 1,000 cases). Half of the positive cases are pointed at an
existing point (and rule) with a variable and unit that fit, so creates and updates succeed too."""

from __future__ import annotations

import json
import time
from itertools import count
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from pydantic import ValidationError
from schemathesis.generation import GenerationMode

from forecast_core.alerts import AlertRules, RulePayload, RuleUpdate, rule_problems
from forecast_core.defaults import canonical_variables, pinned_icechunk_source_registry
from forecast_core.layout import ALERT_RULES_KEY, SOURCE_REGISTRY_KEY
from forecast_core.points import PointPayload
from forecast_core.points_client import HttpPointsClient
from tests.api.conftest import CHECKS, LocalApi, operations_under

CASES_PER_OPERATION_AND_MODE = 150  # 5 operations x 2 modes x 150 = 1,500 at most
FITTING = {  # (kind, reduce) → a variable and unit that fit it
    ("probability", "total"): ("precipitation", "mm"),
    ("probability", None): ("wind_speed_10m", "km/h"),
    ("statistic", None): ("temperature_2m", "degF"),
}


def fit(condition: Any, sequence: int) -> None:
    """Make a generated condition refer to a variable, unit and source that exist."""
    if not isinstance(condition, dict):
        return
    reduce = "total" if condition.get("reduce") == "total" else None
    variable, unit = FITTING.get((str(condition.get("kind")), reduce), FITTING[("statistic", None)])
    condition.update({"variable_id": variable, "unit": unit, "source": ("consensus", "gefs")[sequence % 2]})


def accepted(model: type[RulePayload] | type[RuleUpdate], body: Any, point_id: str | None) -> bool:
    """Whether the strict model and the store's config accept ``body``."""
    try:
        parsed = model.model_validate_json(json.dumps(body))
    except (ValidationError, TypeError, ValueError):
        return False
    condition = parsed.condition
    if isinstance(parsed, RulePayload) and parsed.point_id != point_id:
        return False
    return condition is None or not rule_problems(condition, canonical_variables(), pinned_icechunk_source_registry())


def steer(case: schemathesis.Case, number: int, point_id: str, client: HttpPointsClient) -> None:
    """Point a generated case at the fuzzed point and an existing rule, with a fitting condition."""
    existing = client.list_rules()
    if isinstance(case.body, dict):
        if "point_id" in case.body:
            case.body["point_id"] = point_id
        fit(case.body.get("condition"), number)
    if case.path_parameters and existing:
        case.path_parameters["rule_id"] = existing[number % len(existing)].rule_id


def check_verdict(case: schemathesis.Case, response: Any, point_id: str) -> None:
    """The API refused a body (422) exactly when the rule model and the store's config refuse it."""
    model = {"POST /rules": RulePayload, "PATCH /rules/{rule_id}": RuleUpdate}.get(case.operation.label)
    if model is None or response.status_code not in {200, 201, 409, 422}:
        return
    full = "rules, the most a point may hold" in response.text
    if response.status_code == 422 and not full:
        assert not accepted(model, case.body, point_id), (case.body, response.text)
    elif response.status_code != 422:
        assert accepted(model, case.body, point_id), (case.body, response.text)


def test_fuzz_the_rules_routes(local_api: LocalApi) -> None:
    local_api.store.write_model(SOURCE_REGISTRY_KEY, pinned_icechunk_source_registry())
    client = HttpPointsClient(local_api.url)
    point = client.create_point(PointPayload(point_name="Fuzz", latitude=1.0, longitude=2.0, created_by="fuzz"))
    operations = operations_under("/rules")
    assert len(operations) == 5
    statuses: dict[int, int] = {}
    sequence = count()
    started = time.perf_counter()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=CASES_PER_OPERATION_AND_MODE, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))  # fmt: skip
            @given(case=operation.as_strategy(generation_mode=mode), salt=st.just(mode))
            def fuzz(case: schemathesis.Case, salt: GenerationMode) -> None:
                number = next(sequence)
                if salt == GenerationMode.POSITIVE and number % 2 == 0:  # half the positive cases aim at real ids
                    steer(case, number, point.point_id, client)
                response = case.call_and_validate(base_url=local_api.url, checks=CHECKS, timeout=10)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                check_verdict(case, response, point.point_id)

            try:
                fuzz()
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE, f"{operation.label}: no positive case"
    total = sum(statuses.values())
    print(json.dumps({"fuzz_cases": total, "seconds": round(time.perf_counter() - started, 1), "statuses": statuses}))
    assert total >= 1000, statuses
    assert not any(status >= 500 for status in statuses), statuses
    assert {200, 201, 404, 409, 422}.issubset(statuses), statuses
    AlertRules.model_validate_json(local_api.store.read_bytes(ALERT_RULES_KEY))
