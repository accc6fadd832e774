"""The Powertools REST resolver, its error handling and the Lambda entry function.

Every answer is JSON. Expected refusals (``points_api.errors.ApiError``) keep their status;
request validation failures become 422 with ``fields``; bodies over ``MAX_BODY_BYTES`` get 413
before anything parses them; unknown routes 404; anything else 500 with a logged stack trace.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.typing import LambdaContext

from points_api import services
from points_api.errors import ApiError, DuplicatePoint, PayloadTooLarge, ValidationFailed
from points_api.routes import router
from points_api.rule_routes import router as rule_router
from points_api.rules import DuplicateRule
from points_api.telemetry import count_rejected, logger, metrics

API_TITLE = "forecast-panel write-back API"
API_VERSION = "1"
API_DESCRIPTION = (
    "Points for the forecast-panel dashboard: create, list, rename/retag/enable/disable, delete. "
    "DELETE removes a point (its audit history and extracted forecasts stay); PATCH enabled=false pauses it. "
    "Names are NFKC-normalised and trimmed; duplicates (case and lookalikes folded, or a point within "
    "DEDUPE_DISTANCE_KM) are refused with 409. Alert rules on a point (/rules): create, list, read, "
    "relabel/change/enable/disable, delete; a rule whose condition a point already has is refused with 409; "
    "deleting a point deletes its rules."
)

app = APIGatewayRestResolver(enable_validation=True)
app.include_router(router)
app.include_router(rule_router)


def _json(status: int, body: dict[str, Any]) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _field_name(location: Any, kind: str = "") -> str:
    if kind == "json_invalid":
        return "body"
    parts = [str(part) for part in (location or ()) if part != "body"]
    return (".".join(parts) or "body")[:64]  # an unknown field's name is client text: keep it short


@app.exception_handler(RequestValidationError)
def _on_validation(error: RequestValidationError) -> Response[Any]:
    fields = [
        {
            "field": _field_name(item.get("loc"), str(item.get("type", ""))),
            "message": str(item.get("msg", "invalid")).removeprefix("Value error, "),
        }
        for item in error.errors()
    ]
    count_rejected("validation")
    summary = "; ".join(f"{item['field']}: {item['message']}" for item in fields[:5])
    return _json(422, {"error": "validation", "message": f"invalid request: {summary}", "fields": fields})


@app.exception_handler(ApiError)
def _on_api_error(error: ApiError) -> Response[Any]:
    if isinstance(error, DuplicatePoint | DuplicateRule | ValidationFailed | PayloadTooLarge):
        count_rejected(error.error)
    return _json(error.status, error.body())


@app.exception_handler(Exception)
def _on_unexpected(error: Exception) -> Response[Any]:
    logger.exception("unexpected error")
    return _json(500, {"error": "internal", "message": f"internal error ({type(error).__name__})"})


@app.not_found
def _on_not_found(_: Exception) -> Response[Any]:
    event = app.current_event
    return _json(404, {"error": "not_found", "message": f"no route {event.http_method} {event.path[:200]}"})


def _body_size(event: dict[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(base64.b64decode(body, validate=False))
    return len(body.encode("utf-8"))


def _as_json(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` with its Content-Type set to JSON: every body this API accepts is JSON, whatever
    the client declared (Powertools would otherwise parse form-encoded bodies as forms)."""
    headers = {name: value for name, value in (event.get("headers") or {}).items() if name.lower() != "content-type"}
    multi = {
        name: value for name, value in (event.get("multiValueHeaders") or {}).items() if name.lower() != "content-type"
    }
    headers["Content-Type"] = content_types.APPLICATION_JSON
    multi["Content-Type"] = [content_types.APPLICATION_JSON]
    return {**event, "headers": headers, "multiValueHeaders": multi}


def _raw_response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """A REST proxy response built without the resolver (for refusals before routing)."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def _too_large(limit: int) -> dict[str, Any]:
    count_rejected("too_large")
    return _raw_response(413, PayloadTooLarge(f"request body is larger than {limit} bytes").body())


def _text_body(event: dict[str, Any]) -> dict[str, Any] | None:
    """``event`` with a base64 body decoded to text; None when it is not UTF-8 (→ 422)."""
    if not event.get("body") or not event.get("isBase64Encoded"):
        return event
    try:
        text = base64.b64decode(event["body"], validate=False).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return {**event, "body": text, "isBase64Encoded": False}


@logger.inject_lambda_context(clear_state=True)
def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Resolve one API Gateway REST proxy event (the Lambda entry point, and the local server's).

    Metrics are flushed after every event that recorded one (reads record none, and Powertools'
    ``log_metrics`` would warn about that on every read).
    """
    try:
        try:
            limit = services.current().max_body_bytes
        except Exception:  # noqa: BLE001 (misconfiguration: answer JSON, log the cause)
            logger.exception("the API cannot start its services")
            return _raw_response(500, {"error": "internal", "message": "the API is misconfigured"})
        if _body_size(event) > limit:
            return _too_large(limit)
        text_event = _text_body(event)
        if text_event is None:
            count_rejected("validation")
            message = "the request body is not UTF-8 JSON"
            fields = [{"field": "body", "message": message}]
            return _raw_response(422, {"error": "validation", "message": message, "fields": fields})
        return app.resolve(_as_json(text_event) if text_event.get("body") else text_event, context)
    finally:
        if metrics.metric_set:
            metrics.flush_metrics()


def openapi_json() -> str:
    """The OpenAPI document generated from the routes (committed as ``lambda/openapi.json``).

    Powertools documents its own 422 body (``HTTPValidationError``); this API answers
    ``ValidationBody`` instead (see ``_on_validation``), so the references are rewritten.
    """
    generated = app.get_openapi_json_schema(title=API_TITLE, version=API_VERSION, description=API_DESCRIPTION)
    document = json.loads(
        generated.replace("#/components/schemas/HTTPValidationError", "#/components/schemas/ValidationBody")
    )
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ResponseValidationError", "ValidationError"):
        if f'"#/components/schemas/{unused}"' not in json.dumps(document):
            schemas.pop(unused, None)
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
