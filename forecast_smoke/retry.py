"""Retry with exponential backoff for transient errors, and the S3 client the tools share.

Two layers, as in aws-notes §6.3: every boto3 client uses botocore's ``standard`` retry mode
(throttling, 5xx, timeouts; exponential backoff), and reads of forecast sources (HTTP or S3
through Icechunk / fsspec, which have no botocore retry policy of ours) are wrapped in
``call_with_retry`` — tenacity, retrying only errors that look transient.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tenacity

log = logging.getLogger(__name__)


_TRANSIENT_NAMES = frozenset(
    {
        "ConnectionError",
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ResponseStreamingError",
        "IncompleteReadError",
        "ClientConnectionError",
        "ServerDisconnectedError",
        "ClientPayloadError",
        "RemoteDisconnected",
    }
)
_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` tries in all, waits doubling from ``initial_wait`` up to ``max_wait`` seconds."""

    attempts: int = 3
    initial_wait: float = 0.5
    max_wait: float = 8.0


def is_transient(error: BaseException) -> bool:
    """True for timeouts, dropped connections, throttling and 5xx anywhere in the cause chain."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TimeoutError | ConnectionError) or type(current).__name__ in _TRANSIENT_NAMES:
            return True
        status = getattr(current, "code", None) or getattr(current, "status", None)
        response = getattr(current, "response", None)
        if isinstance(response, dict):
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", status)
        if isinstance(status, int) and status in _TRANSIENT_STATUS:
            return True
        current = current.__cause__ or current.__context__
    return False


def call_with_retry[T](function: Callable[[], T], policy: RetryPolicy, what: str) -> tuple[T, int]:
    """``function()`` retried on transient errors; returns (result, attempts used).

    The last error is re-raised unchanged when attempts run out or the error is not transient.
    """
    attempts = 0

    def attempt() -> T:
        nonlocal attempts
        attempts += 1
        return function()

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max(1, policy.attempts)),
        wait=tenacity.wait_exponential(multiplier=policy.initial_wait, max=policy.max_wait),
        retry=tenacity.retry_if_exception(is_transient),
        before_sleep=lambda state: (
            log.warning(
                "%s: transient error on attempt %d, retrying: %s", what, state.attempt_number, state.outcome.exception()
            )
            if state.outcome is not None
            else None
        ),
        reraise=True,
    )
    result = retrying(attempt)
    return result, attempts


def s3_client(endpoint_url: str | None = None, max_attempts: int = 5) -> Any:
    """A boto3 S3 client: botocore standard retries, ``max_attempts`` tries in all per request, on
    ``endpoint_url`` or the environment's endpoint."""
    import boto3
    from botocore.config import Config

    from forecast_core.store import s3_endpoint_url

    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint_url(endpoint_url),
        # total_max_attempts counts the first try; botocore's max_attempts counts retries only
        config=Config(retries={"mode": "standard", "total_max_attempts": max(1, max_attempts)}),
    )
