"""The ``/rules`` routes: list (optionally one point's), read, create, update and delete alert rules.

Bodies are validated by Powertools against ``RulePayload`` / ``RuleUpdate`` from
``forecast_core.alerts`` (strict, unknown fields rejected); what depends on the store's config
(the point exists, variable, unit and source fit) is checked by the repository and answered as
422 with the same ``fields`` shape. Every write is audited like a point's (action
``create_rule`` / ``update_rule`` / ``delete_rule``, keyed by the rule's point).
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict

from forecast_core.alerts import AlertRule, RulePayload, RuleUpdate
from forecast_core.layout import IDENTIFIER_PATTERN
from points_api import services
from points_api.errors import ErrorBody, NotFound, ValidationBody, json_content
from points_api.routes import _json, request_actor
from points_api.rules import RulesRepository, RulesUnavailable, RuleWriteResult
from points_api.telemetry import count_write, logger

router = Router()


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleBody(_Body):
    rule: AlertRule


class RulesBody(_Body):
    rules: list[AlertRule]


class RuleConflict(_Body):
    rule_id: str
    point_id: str


class DuplicateRuleBody(_Body):
    error: str
    message: str
    conflict: RuleConflict


_NOT_FOUND: dict[int, OpenAPIResponse] = {
    404: json_content(ErrorBody, "No rule with this id"),
    422: json_content(ValidationBody, "Invalid request, with field-level messages"),
}
_DUPLICATE: dict[int, OpenAPIResponse] = {
    409: json_content(DuplicateRuleBody, "The point already has a rule with this condition")
}
_INVALID: dict[int, OpenAPIResponse] = {
    413: json_content(ErrorBody, "Body larger than MAX_BODY_BYTES"),
    422: json_content(ValidationBody, "Invalid body or a rule that does not fit the store, with field-level messages"),
    503: json_content(ErrorBody, "Rules are not configured in this deployment, or the store is busy"),
}


def repository() -> RulesRepository:
    rules = services.current().rules
    if rules is None:
        raise RulesUnavailable("alert rules are not configured (set ALERT_RULES_TABLE_NAME)")
    return rules


def _after_write(result: RuleWriteResult, actor: str) -> None:
    record = services.current().audit.record(result, actor)
    count_write(result.action)
    logger.info("rule written", extra={"action": result.action, "rule_id": result.rule.rule_id, "at": record["at"]})


@router.get(
    "/rules",
    summary="List alert rules (all, or one point's)",
    responses={200: json_content(RulesBody, "Rules by id"), **_NOT_FOUND},
)
def list_rules(point_id: Annotated[str | None, Query(pattern=IDENTIFIER_PATTERN)] = None) -> Response[Any]:
    rules = repository().list_rules(point_id)
    return _json(200, {"rules": [rule.model_dump(mode="json") for rule in rules]})


@router.get(
    "/rules/<rule_id>",
    summary="Read one alert rule",
    responses={200: json_content(RuleBody, "The rule"), **_NOT_FOUND},
)
def get_rule(rule_id: str) -> Response[Any]:
    from points_api.rules import check_rule_id, find_rule

    rule = find_rule(repository().list_rules(), check_rule_id(rule_id))
    return _json(200, {"rule": rule.model_dump(mode="json")})


@router.post(
    "/rules",
    summary="Create an alert rule on a point",
    description="The point must exist; the condition's variable, unit and source must fit the store's config. "
    "409 when the point already has a rule with the same condition (thresholds compared in native units).",
    responses={201: json_content(RuleBody, "The created rule"), **_DUPLICATE, **_INVALID},
)
def create_rule(payload: Annotated[RulePayload, Body()]) -> Response[Any]:
    result = repository().create_rule(payload)
    _after_write(result, request_actor(payload.created_by))
    return _json(201, {"rule": result.rule.model_dump(mode="json")})


@router.patch(
    "/rules/<rule_id>",
    summary="Relabel, change the condition of, enable or disable an alert rule",
    description="A changed condition starts the rule from no state: if it holds in the next run, it fires.",
    responses={200: json_content(RuleBody, "The updated rule"), **_NOT_FOUND, **_DUPLICATE, **_INVALID},
)
def update_rule(rule_id: str, update: Annotated[RuleUpdate, Body()]) -> Response[Any]:
    result = repository().update_rule(rule_id, update)
    _after_write(result, request_actor(update.updated_by))
    return _json(200, {"rule": result.rule.model_dump(mode="json")})


@router.delete(
    "/rules/<rule_id>",
    summary="Delete an alert rule",
    description="Removes the rule; its notification records and audit history stay.",
    responses={200: json_content(RuleBody, "The removed rule"), **_NOT_FOUND},
)
def delete_rule(rule_id: str) -> Response[Any]:
    result = repository().delete_rule(rule_id)
    _after_write(result, request_actor())
    return _json(200, {"rule": result.rule.model_dump(mode="json")})


def delete_rules_of_point(point_id: str, actor: str) -> int:
    """Delete every rule of a deleted point (audited); the number deleted. A no-op without rules."""
    rules = services.current().rules
    if rules is None:
        return 0
    removed = 0
    for rule in rules.list_rules(point_id):
        try:
            result = rules.delete_rule(rule.rule_id)
        except NotFound:
            continue  # deleted concurrently
        _after_write(result, actor)
        removed += 1
    return removed
