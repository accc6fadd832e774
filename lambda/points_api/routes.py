"""The routes: ``/health`` and ``/points`` (list, create, update, delete).

Request bodies are validated by Powertools against ``PointPayload`` / ``PointUpdate`` from
``forecast_core.points`` (strict, unknown fields rejected); ``app.py`` turns validation errors
into 422 ``{"error": "validation", "fields": [...]}``.

DELETE removes the point for good: it leaves ``pre_canned_points.json`` (so extraction stops and
the name is free again) and the reply carries the removed point; its audit history and the
forecasts already extracted stay. To pause a point instead, PATCH ``{"enabled": false}``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from forecast_core.points import PointPayload, PointUpdate
from points_api import services
from points_api.errors import (
    DuplicateBody,
    ErrorBody,
    HealthBody,
    PointBody,
    PointsBody,
    ValidationBody,
    json_content,
)
from points_api.repository import WriteResult
from points_api.telemetry import count_write, logger

router = Router()
ACTOR_HEADER = "x-points-actor"
_ACTOR = re.compile(r"^[\w.@+\- ]{1,64}$")

_NOT_FOUND: dict[int, OpenAPIResponse] = {
    404: json_content(ErrorBody, "No point with this id"),
    422: json_content(ValidationBody, "Invalid request, with field-level messages"),
}
_DUPLICATE: dict[int, OpenAPIResponse] = {
    409: json_content(DuplicateBody, "Duplicate name (case and lookalikes folded) or position")
}
_INVALID: dict[int, OpenAPIResponse] = {
    413: json_content(ErrorBody, "Body larger than MAX_BODY_BYTES"),
    422: json_content(ValidationBody, "Invalid body, with field-level messages"),
}


def _json(status: int, body: dict[str, Any]) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def request_actor(fallback: str | None = None) -> str:
    """Who is writing: the body's actor, else the ``X-Points-Actor`` header, else the caller's identity."""
    if fallback:
        return fallback
    event = router.current_event
    assert isinstance(event, APIGatewayProxyEvent)
    header = (event.headers or {}).get(ACTOR_HEADER) or (event.headers or {}).get("X-Points-Actor")
    if header and _ACTOR.match(header):
        return header
    identity = event.request_context.identity
    caller = identity.user_arn or identity.caller or identity.source_ip
    return str(caller)[-64:] if caller else "anonymous"


def _after_write(result: WriteResult, actor: str) -> None:
    current = services.current()
    record = current.audit.record(result, actor)
    count_write(result.action)
    logger.info("point written", extra={"action": result.action, "point_id": result.point.point_id, "at": record["at"]})


@router.get("/health", summary="Liveness", responses={200: json_content(HealthBody, "The API answers")})
def health() -> Response[Any]:
    return _json(200, {"status": "ok", "mode": services.current().repository.mode})


@router.get("/points", summary="List every point", responses={200: json_content(PointsBody, "All points by id")})
def list_points() -> Response[Any]:
    points = services.current().repository.list_points()
    return _json(200, {"points": [point.model_dump(mode="json") for point in points]})


@router.post(
    "/points",
    summary="Create a point",
    description="Creates a point; a targeted extraction is requested for it. "
    "409 when its name (case and lookalikes folded) or a point within DEDUPE_DISTANCE_KM exists.",
    responses={201: json_content(PointBody, "The created point"), **_DUPLICATE, **_INVALID},
)
def create_point(payload: Annotated[PointPayload, Body()]) -> Response[Any]:
    current = services.current()
    result = current.repository.create_point(payload)
    _after_write(result, request_actor(payload.created_by))
    current.extraction.request(result.point.point_id)
    return _json(201, {"point": result.point.model_dump(mode="json")})


@router.patch(
    "/points/<point_id>",
    summary="Rename, retag, enable or disable a point",
    description="Re-enabling a disabled point requests a targeted extraction for it, as a create does.",
    responses={
        200: json_content(PointBody, "The updated point"),
        **_NOT_FOUND,
        **_DUPLICATE,
        **_INVALID,
    },
)
def update_point(point_id: str, update: Annotated[PointUpdate, Body()]) -> Response[Any]:
    current = services.current()
    result = current.repository.update_point(point_id, update)
    _after_write(result, request_actor(update.updated_by))
    if result.before is not None and not result.before.enabled and result.point.enabled:
        current.extraction.request(point_id)  # re-enabled: fetch its forecast now, as after a create
    return _json(200, {"point": result.point.model_dump(mode="json")})


@router.delete(
    "/points/<point_id>",
    summary="Delete a point",
    description="Removes the point from pre_canned_points.json (extraction stops, the name is free again) "
    "and its alert rules, and answers the removed point. Audit history and already-extracted forecasts stay. "
    "To pause a point instead, PATCH enabled=false.",
    responses={200: json_content(PointBody, "The removed point"), **_NOT_FOUND},
)
def delete_point(point_id: str) -> Response[Any]:
    from points_api.rule_routes import delete_rules_of_point

    result = services.current().repository.delete_point(point_id)
    _after_write(result, request_actor())
    delete_rules_of_point(point_id, request_actor())  # a deleted point's alert rules go with it
    return _json(200, {"point": result.point.model_dump(mode="json")})
