"""API errors and the bodies the API answers (the shapes ``forecast_core.points_client`` documents).

Routes and repositories raise ``ApiError`` subclasses; ``app.py`` turns them into responses.
The response models below exist for the OpenAPI document; the point model itself is
``forecast_core.points.Point``.
"""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict

from forecast_core.points import Point


class ApiError(Exception):
    """An expected refusal: ``status`` and the JSON ``body`` to answer."""

    status = 400
    error = "bad_request"

    def __init__(self, message: str, **extra: Any):
        super().__init__(message)
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "message": self.message, **self.extra}


class NotFound(ApiError):
    status = 404
    error = "not_found"


class PayloadTooLarge(ApiError):
    status = 413
    error = "too_large"


class ValidationFailed(ApiError):
    """422 with field-level messages: ``fields=[{"field": …, "message": …}]``."""

    status = 422
    error = "validation"


class DuplicatePoint(ApiError):
    """409: the name (case and lookalikes folded) or the position is taken by ``existing``."""

    status = 409
    error = "duplicate"

    def __init__(self, existing: Point, reason: Literal["name", "distance"], distance_km: float):
        if reason == "name":
            message = f"a point named {existing.point_name!r} already exists ({existing.point_id})"
        else:
            message = (
                f"point {existing.point_name!r} ({existing.point_id}) is {distance_km:.3f} km away; "
                "points must be further apart"
            )
        super().__init__(
            message,
            conflict={
                "point_id": existing.point_id,
                "point_name": existing.point_name,
                "reason": reason,
                "distance_km": round(distance_km, 4),
            },
        )
        self.existing = existing
        self.reason = reason


class StorageConflict(ApiError):
    """503: the points file could not be swapped after every retry (heavy contention)."""

    status = 503
    error = "busy"


# --- response bodies, for the OpenAPI document ------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HealthBody(_Body):
    status: Literal["ok"]
    mode: Literal["aws", "embedded"]


class PointsBody(_Body):
    points: list[Point]


class PointBody(_Body):
    point: Point


class FieldMessage(_Body):
    field: str
    message: str


class ValidationBody(_Body):
    error: Literal["validation"]
    message: str
    fields: list[FieldMessage]


class Conflict(_Body):
    point_id: str
    point_name: str
    reason: Literal["name", "distance"]
    distance_km: float


class DuplicateBody(_Body):
    error: Literal["duplicate"]
    message: str
    conflict: Conflict


class ErrorBody(_Body):
    error: str
    message: str


def json_content(model: type[BaseModel], description: str) -> OpenAPIResponse:
    """An OpenAPI ``responses`` entry whose JSON body is ``model``."""
    return {"description": description, "content": {"application/json": {"model": model}}}
