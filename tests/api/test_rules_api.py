"""Alert rules through the local server with the app's own client: the lifecycle, validation
against the store's config, dedupe, the per-point limit, audit, a deleted point's rules, races."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from forecast_core.alerts import MAX_RULES_PER_POINT, AlertRules, RulePayload, RuleUpdate
from forecast_core.defaults import pinned_icechunk_source_registry
from forecast_core.layout import ALERT_RULES_KEY, POINTS_AUDIT_LOG_KEY, SOURCE_REGISTRY_KEY
from forecast_core.points import PointPayload
from forecast_core.points_client import HttpPointsClient, PointsApiError
from tests.api.conftest import LocalApi, raw_request


def condition(**fields: Any) -> dict[str, Any]:
    base = {"kind": "probability", "variable_id": "snowfall", "window": {"end_hours": 72}, "reduce": "total",
            "comparison": ">=", "threshold": 10.0, "unit": "mm", "min_probability": 50.0}  # fmt: skip
    return base | fields


def payload(point_id: str, **fields: Any) -> RulePayload:
    return RulePayload.model_validate({"point_id": point_id, "created_by": "tester", "condition": condition(**fields)})


@pytest.fixture
def point_id(local_api: LocalApi) -> str:
    created = HttpPointsClient(local_api.url).create_point(
        PointPayload(point_name="Trailhead", latitude=45.1, longitude=-110.0, created_by="tester")
    )
    return created.point_id


def test_create_list_read_update_delete(local_api: LocalApi, point_id: str) -> None:
    client = HttpPointsClient(local_api.url)
    created = client.create_rule(payload(point_id).model_copy(update={"label": "  Powder   day "}))
    assert created.label == "Powder day" and created.condition.source == "consensus"
    assert client.list_rules(point_id) == [created] and client.list_rules("other-point") == []
    status, answer = raw_request(local_api, "GET", f"/rules/{created.rule_id}")
    assert status == 200 and answer["rule"]["rule_id"] == created.rule_id
    paused = client.update_rule(created.rule_id, RuleUpdate(enabled=False, updated_by="tester"))
    assert paused.enabled is False and paused.revision == created.revision
    changed = client.update_rule(created.rule_id, RuleUpdate.model_validate({"condition": condition(threshold=20.0)}))
    assert changed.condition.threshold == 20.0 and changed.revision != created.revision
    document = local_api.store.read_model(ALERT_RULES_KEY, AlertRules)
    assert [rule.rule_id for rule in document.rules] == [created.rule_id]
    removed = client.delete_rule(created.rule_id)
    assert removed.rule_id == created.rule_id and client.list_rules() == []
    lines = [json.loads(line) for line in local_api.store.read_bytes(POINTS_AUDIT_LOG_KEY).decode().splitlines()]
    actions = [(line["action"], line["point_id"]) for line in lines if line["action"].endswith("_rule")]
    assert actions == [("create_rule", point_id)] + [("update_rule", point_id)] * 2 + [("delete_rule", point_id)]
    assert lines[-1]["before"]["rule_id"] == created.rule_id and lines[-1]["after"] is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"unit": "degC"}, "condition.unit"),
        ({"variable_id": "temperature_2m", "unit": "degC"}, "condition.reduce"),
        ({"variable_id": "snowfall_total"}, "condition.reduce"),
        ({"variable_id": "hail"}, "condition.variable_id"),
    ],
)
def test_rules_that_do_not_fit_the_store_get_422(local_api: LocalApi, point_id: str, fields: dict, field: str) -> None:
    with pytest.raises(PointsApiError) as refused:
        HttpPointsClient(local_api.url).create_rule(payload(point_id, **fields))
    assert refused.value.status == 422
    assert field in [item["field"] for item in refused.value.fields]


def test_unknown_points_and_sources_get_422(local_api: LocalApi, point_id: str) -> None:
    client = HttpPointsClient(local_api.url)
    with pytest.raises(PointsApiError) as no_point:
        client.create_rule(payload("no-such-point"))
    assert [item["field"] for item in no_point.value.fields] == ["point_id"]
    client.create_rule(payload(point_id, source="nam"))  # no registry in the store: any source id
    local_api.store.write_model(SOURCE_REGISTRY_KEY, pinned_icechunk_source_registry())
    with pytest.raises(PointsApiError) as no_source:
        client.create_rule(payload(point_id, source="hrrr"))
    assert "consensus, gefs, ecmwf_ifs_ens" in no_source.value.fields[0]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"point_id": "p", "created_by": "t"}, "condition"),
        ({"point_id": "p", "created_by": "t", "condition": condition(kind="forecast")}, "condition"),
        ({"point_id": "p", "created_by": "t", "condition": condition(threshold="10")}, "threshold"),
        ({"point_id": "p", "created_by": "t", "condition": condition(min_probability=0)}, "min_probability"),
        ({"point_id": "p", "created_by": "t", "condition": condition(window={"end_hours": 1001})}, "end_hours"),
        ({"point_id": "p", "created_by": "t", "condition": condition(), "admin": True}, "admin"),
    ],
)
def test_invalid_bodies_get_422_with_field_messages(local_api: LocalApi, body: dict, field: str) -> None:
    status, answer = raw_request(local_api, "POST", "/rules", json.dumps(body).encode())
    assert status == 422 and answer["error"] == "validation"
    assert any(field in item["field"] for item in answer["fields"]), answer["fields"]


def test_the_same_condition_is_a_duplicate_in_any_unit(local_api: LocalApi, point_id: str) -> None:
    client = HttpPointsClient(local_api.url)
    first = client.create_rule(payload(point_id))
    with pytest.raises(PointsApiError) as refused:
        client.create_rule(payload(point_id, threshold=1.0, unit="cm"))
    assert refused.value.status == 409 and refused.value.conflict == {"rule_id": first.rule_id, "point_id": point_id}
    other = client.create_rule(payload(point_id, threshold=20.0))
    with pytest.raises(PointsApiError) as renamed:
        client.update_rule(other.rule_id, RuleUpdate.model_validate({"condition": condition()}))
    assert renamed.value.status == 409


def test_a_point_holds_a_bounded_number_of_rules(local_api: LocalApi, point_id: str) -> None:
    client = HttpPointsClient(local_api.url)
    for index in range(MAX_RULES_PER_POINT):
        client.create_rule(payload(point_id, threshold=float(index + 1)))
    with pytest.raises(PointsApiError) as refused:
        client.create_rule(payload(point_id, threshold=999.0))
    assert refused.value.status == 422 and f"{MAX_RULES_PER_POINT} rules" in refused.value.message


def test_deleting_a_point_deletes_its_rules(local_api: LocalApi, point_id: str) -> None:
    client = HttpPointsClient(local_api.url)
    client.create_rule(payload(point_id))
    client.create_rule(payload(point_id, threshold=5.0))
    client.delete_point(point_id)
    assert client.list_rules() == []


def test_unknown_rules_get_404(local_api: LocalApi) -> None:
    for method, body in (("GET", None), ("PATCH", b'{"enabled": false}'), ("DELETE", None)):
        status, answer = raw_request(local_api, method, "/rules/rule-0123456789ab", body)
        assert (status, answer["error"]) == (404, "not_found")
    assert raw_request(local_api, "GET", "/rules/not-a-rule-id")[0] == 404
    assert raw_request(local_api, "GET", "/rules?point_id=NOT%20AN%20ID")[0] == 422


def test_racing_creates_of_one_rule_give_one_rule(local_api: LocalApi, point_id: str) -> None:
    results: list[int] = []

    def create() -> None:
        try:
            HttpPointsClient(local_api.url).create_rule(payload(point_id))
            results.append(201)
        except PointsApiError as error:
            results.append(error.status)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [201] + [409] * 7
    assert len(HttpPointsClient(local_api.url).list_rules()) == 1


def test_racing_repositories_on_one_folder_keep_every_rule(local_api: LocalApi, point_id: str) -> None:
    """Without the server's one-request-at-a-time: repositories on threads swap the file directly."""
    from points_api.embedded import StoreRepository
    from points_api.rules_store import StoreRulesRepository

    store = local_api.store
    outcomes: list[str] = []

    def create(index: int) -> None:
        repository = StoreRulesRepository(store, StoreRepository(store, 0.5))
        try:
            repository.create_rule(payload(point_id, threshold=float(index % 4)))
            outcomes.append("created")
        except Exception as error:  # DuplicateRule
            outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=create, args=(index,)) for index in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["DuplicateRule"] * 8 + ["created"] * 4
    rules = store.read_model(ALERT_RULES_KEY, AlertRules).rules
    assert sorted(rule.condition.threshold for rule in rules) == [0.0, 1.0, 2.0, 3.0]
