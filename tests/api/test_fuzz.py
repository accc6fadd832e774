"""Schemathesis against the committed OpenAPI document on the local server: no 5xx, documented
status codes and bodies, and a valid points file afterwards (≥ 1,000 cases)."""

from __future__ import annotations

import json
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from pydantic import BaseModel, ValidationError
from schemathesis.generation import GenerationMode

from forecast_core.layout import PRE_CANNED_POINTS_KEY
from forecast_core.points import PointPayload, PointUpdate, PreCannedPoints
from tests.api.conftest import CHECKS, LocalApi, operations_under

# GET /health and GET /points take no input (one case each, no negative cases); the three write
# operations get positive and negative cases: 3 x 2 x 210 = 1,260 at most.
CASES_PER_OPERATION_AND_MODE = 210


BODY_MODELS: dict[str, type[BaseModel]] = {"POST /points": PointPayload, "PATCH /points/{point_id}": PointUpdate}


def _valid(model: type[BaseModel], body: object) -> bool:
    try:
        model.model_validate_json(json.dumps(body))
    except (ValidationError, TypeError, ValueError):
        return False
    return True


def test_fuzz_the_local_server(local_api: LocalApi) -> None:
    operations = operations_under("/health", "/points")
    assert len(operations) == 5
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=CASES_PER_OPERATION_AND_MODE,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode), salt=st.just(mode))
            def fuzz(case: schemathesis.Case, salt: GenerationMode) -> None:
                response = case.call_and_validate(base_url=local_api.url, checks=CHECKS, timeout=60)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                # the API accepts exactly what the app's own strict JSON parse accepts
                model = BODY_MODELS.get(case.operation.label)
                if model is not None and response.status_code in {200, 201, 409, 422}:
                    accepted = response.status_code != 422
                    assert _valid(model, case.body) == accepted, (case.body, response.text)

            try:
                fuzz()
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE, f"{operation.label}: no positive case"
    elapsed = time.perf_counter() - started
    total = sum(statuses.values())
    print(json.dumps({"fuzz_cases": total, "seconds": round(elapsed, 1), "statuses": statuses}))
    assert total >= 1000, statuses
    assert not any(status >= 500 for status in statuses), statuses
    assert {201, 422}.issubset(statuses), "the fuzzer reached both acceptance and validation"
    document = local_api.store.read_model(PRE_CANNED_POINTS_KEY, PreCannedPoints)
    for point in document.points:
        assert point.point_name == point.point_name.strip() and "\x00" not in point.point_name


@pytest.mark.parametrize("name", ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "'; DROP TABLE x; --"])
def test_markup_names_are_stored_as_inert_text(local_api: LocalApi, name: str) -> None:
    from forecast_core.points_client import HttpPointsClient

    created = HttpPointsClient(local_api.url).create_point(
        PointPayload(point_name=name, latitude=1.0, longitude=2.0, created_by="fuzzer")
    )
    assert created.point_name == name  # kept verbatim as text; the app renders it as text
    raw = local_api.store.read_bytes(PRE_CANNED_POINTS_KEY)
    assert json.loads(raw)["points"][0]["point_name"] == name
