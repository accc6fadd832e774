"""Client of the write-back API, as the app uses it (stdlib HTTP; no AWS or Panel imports).

Routes and bodies (the API's OpenAPI document is the full reference):

- ``GET /health`` → 200 ``{"status": "ok"}``
- ``GET /points`` → 200 ``{"points": [Point, …]}``
- ``POST /points`` with a PointPayload → 201 ``{"point": Point}``;
  409 ``{"error": "duplicate", "message": str, "conflict": {"point_id", "point_name", "reason", …}}``;
  422 ``{"error": "validation", "message": str, "fields": [{"field": str, "message": str}, …]}``
- ``PATCH /points/{point_id}`` with a PointUpdate → 200 ``{"point": Point}``; 404 / 409 / 422 as above
- ``DELETE /points/{point_id}`` → 200 ``{"point": Point}`` (see the API's docs for its semantics)
- ``GET /rules[?point_id=…]`` → 200 ``{"rules": [AlertRule, …]}``; ``GET /rules/{rule_id}`` → ``{"rule": …}``
- ``POST /rules`` with a RulePayload → 201 ``{"rule": AlertRule}``; 409 ``{"error": "duplicate",
  "conflict": {"rule_id", "point_id"}}``; 422 as above (also for a rule that does not fit the store)
- ``PATCH /rules/{rule_id}`` with a RuleUpdate → 200 ``{"rule": …}``; ``DELETE /rules/{rule_id}`` → 200

Behind API Gateway with IAM auth (the deployed stack), requests are signed with SigV4 (service
``execute-api``) using the caller's AWS credentials — the ECS task role in production. Signing is
on automatically for ``*.execute-api.<region>.amazonaws.com`` hosts, or forced with
``sign_aws=True`` / ``FORECAST_API_SIGV4=1`` (custom domains).
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Protocol

from forecast_core.alerts import AlertRule, RulePayload, RuleUpdate
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


class RulesService(Protocol):
    """What the app needs from the write-back API for alert rules."""

    def list_rules(self, point_id: str | None = None) -> list[AlertRule]: ...
    def create_rule(self, payload: RulePayload) -> AlertRule: ...
    def update_rule(self, rule_id: str, update: RuleUpdate) -> AlertRule: ...
    def delete_rule(self, rule_id: str) -> AlertRule: ...


_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$")


def _aws_region_for(url: str) -> str | None:
    """The region of an API Gateway execute-api URL, else None."""
    match = _EXECUTE_API_HOST.match(urllib.parse.urlsplit(url).hostname or "")
    return match.group(1) if match else None


def sigv4_headers(method: str, url: str, body: bytes | None, headers: dict[str, str], region: str) -> dict[str, str]:
    """Headers of a SigV4-signed (``execute-api``) request with the default AWS credentials."""
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = boto3.Session().get_credentials()
    if credentials is None:
        raise PointsApiError(status=0, message="no AWS credentials to sign the write-back API request")
    request = AWSRequest(method=method, url=url, data=body or b"", headers=headers)
    SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
    return dict(request.headers.items())


class HttpPointsClient:
    """PointsService over HTTP: the local server, or API Gateway with IAM (SigV4) auth."""

    def __init__(
        self,
        base_url: str,
        timeout_seconds: float = 10.0,
        headers: dict[str, str] | None = None,
        sign_aws: bool | None = None,
        region: str | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.headers = dict(headers or {})
        detected_region = _aws_region_for(self.base_url)
        forced = os.environ.get("FORECAST_API_SIGV4", "") in {"1", "true", "yes"}
        self.sign_aws = sign_aws if sign_aws is not None else (detected_region is not None or forced)
        self.region = region or detected_region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")

    def _request(self, method: str, path: str, body: bytes | None = None) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        headers = {"Content-Type": "application/json", "Accept": "application/json", **self.headers}
        if self.sign_aws:
            if not self.region:
                raise PointsApiError(status=0, message="set AWS_REGION to sign write-back API requests")
            headers = sigv4_headers(method, url, body, headers, self.region)
        request = urllib.request.Request(  # noqa: S310 (URL is the configured API base)
            url,
            data=body,
            method=method,
            headers=headers,
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

    def list_rules(self, point_id: str | None = None) -> list[AlertRule]:
        query = f"?point_id={urllib.parse.quote(point_id, safe='')}" if point_id else ""
        document = self._request("GET", f"/rules{query}")
        return [AlertRule.model_validate_json(json.dumps(item)) for item in document.get("rules", [])]

    def create_rule(self, payload: RulePayload) -> AlertRule:
        document = self._request("POST", "/rules", payload.model_dump_json(exclude_none=True).encode())
        return AlertRule.model_validate_json(json.dumps(document["rule"]))

    def update_rule(self, rule_id: str, update: RuleUpdate) -> AlertRule:
        body = update.model_dump_json(exclude_none=True).encode()
        document = self._request("PATCH", f"/rules/{urllib.parse.quote(rule_id, safe='')}", body)
        return AlertRule.model_validate_json(json.dumps(document["rule"]))

    def delete_rule(self, rule_id: str) -> AlertRule:
        document = self._request("DELETE", f"/rules/{urllib.parse.quote(rule_id, safe='')}")
        return AlertRule.model_validate_json(json.dumps(document["rule"]))
