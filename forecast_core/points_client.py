"""Client of the write-back API, as the app uses it (stdlib HTTP; no AWS or Panel imports).

Routes and bodies (the API's OpenAPI document is the full reference):

- ``GET /health`` → 200 ``{"status": "ok"}``
- ``GET /points`` → 200 ``{"points": [Point, …]}``
- ``POST /points`` with a PointPayload → 201 ``{"point": Point}``;
  409 ``{"error": "duplicate", "message": str, "conflict": {"point_id", "point_name", "reason", …}}``;
  422 ``{"error": "validation", "message": str, "fields": [{"field": str, "message": str}, …]}``
- ``PATCH /points/{point_id}`` with a PointUpdate → 200 ``{"point": Point}``; 404 / 409 / 422 as above
- ``DELETE /points/{point_id}`` → 200 ``{"point": Point}`` (see the API's docs for its semantics)
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Protocol

from forecast_core.points import Point, PointPayload, PointUpdate


@dataclass
class PointsApiError(Exception):
    """The API refused a request or could not be reached; ``status`` 0 means unreachable."""

    status: int
    message: str
    fields: list[dict[str, str]] = field(default_factory=list)
    conflict: dict[str, Any] | None = None

    def __str__(self) -> str:
        return self.message


class PointsService(Protocol):
    """What the app needs from the write-back API."""

    def list_points(self) -> list[Point]: ...
    def create_point(self, payload: PointPayload) -> Point: ...
    def update_point(self, point_id: str, update: PointUpdate) -> Point: ...
    def delete_point(self, point_id: str) -> Point: ...


class HttpPointsClient:
    """PointsService over HTTP (the local server, or API Gateway behind a signing proxy)."""

    def __init__(self, base_url: str, timeout_seconds: float = 10.0, headers: dict[str, str] | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.headers = dict(headers or {})

    def _request(self, method: str, path: str, body: bytes | None = None) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 (URL is the configured API base)
            f"{self.base_url}{path}",
            data=body,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json", **self.headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:  # noqa: S310
                loaded: dict[str, Any] = json.loads(response.read() or b"{}")
                return loaded
        except urllib.error.HTTPError as error:
            try:
                detail: dict[str, Any] = json.loads(error.read() or b"{}")
            except json.JSONDecodeError:
                detail = {}
            raise PointsApiError(
                status=error.code,
                message=str(detail.get("message") or error.reason),
                fields=list(detail.get("fields") or []),
                conflict=detail.get("conflict"),
            ) from error
        except (OSError, json.JSONDecodeError) as error:
            raise PointsApiError(status=0, message=f"write-back API unreachable at {self.base_url}: {error}") from error

    def health(self) -> bool:
        return self._request("GET", "/health").get("status") == "ok"

    def list_points(self) -> list[Point]:
        document = self._request("GET", "/points")
        return [Point.model_validate_json(json.dumps(item)) for item in document.get("points", [])]

    def create_point(self, payload: PointPayload) -> Point:
        document = self._request("POST", "/points", payload.model_dump_json().encode())
        return Point.model_validate_json(json.dumps(document["point"]))

    def update_point(self, point_id: str, update: PointUpdate) -> Point:
        body = update.model_dump_json(exclude_none=True).encode()
        document = self._request("PATCH", f"/points/{urllib.parse.quote(point_id, safe='')}", body)
        return Point.model_validate_json(json.dumps(document["point"]))

    def delete_point(self, point_id: str) -> Point:
        document = self._request("DELETE", f"/points/{urllib.parse.quote(point_id, safe='')}")
        return Point.model_validate_json(json.dumps(document["point"]))
