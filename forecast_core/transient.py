"""Is an error transient (worth retrying) or permanent? One answer for pipeline, app, API and tools.

Built on botocore's standard retry mode: a service error is transient when botocore's
``TransientRetryableChecker`` (RequestTimeout, HTTP 500/502/503/504, connection and HTTP client
errors — dropped connections, read timeouts, ``ResponseStreamingError`` on a cut body) or
``ThrottledRetryableChecker`` (SlowDown, Throttling, ProvisionedThroughputExceeded …) says so;
``IncompleteReadError`` (a body shorter than its Content-Length) is transient too.

The other client libraries on the store path raise their own types for the same conditions,
recognised by class name (so this module imports none of them):

- Python / urllib3 / http.client: ``ConnectionError`` (reset, aborted, refused, broken pipe),
  ``TimeoutError``, ``IncompleteRead``, ``ProtocolError``; ``urllib.error.HTTPError`` by status.
- aiohttp (s3fs, fsspec HTTP): ``ClientConnectionError`` (incl. ``ClientOSError``,
  ``ServerDisconnectedError``), ``ClientPayloadError`` (cut body), ``ClientResponseError`` by
  status; fsspec's ``FSTimeoutError``.
- s3fs re-raises botocore errors as ``OSError`` / ``FileNotFoundError`` / ``PermissionError`` with
  the botocore error as the cause: the cause decides, missing keys and denials are permanent.
- Icechunk: ``IcechunkError.kind`` ``throttled`` / ``semaphore-acquire`` are transient; for
  ``object-store`` / ``io`` / ``storage-other`` the AWS SDK's error variant in the message decides
  (``dispatch failure``, ``request has timed out``, ``response error``, a body ``streaming
  error``: transient; ``service error`` with a code: the code, as for botocore, plus the codes AWS
  sends only with a 5xx status, since the message carries no status); any other kind
  (not found, invalid input, format …) is permanent. zarr passes these through unchanged.

The whole cause chain is walked, outermost first, and the first error with a verdict decides
(wrappers such as ``StoreError`` or ``SourceUnavailable`` have none). ``FileNotFoundError``,
``PermissionError``, ``KeyError``, ``ValueError`` and ``TypeError`` are permanent. Anything not
recognised is permanent: retrying it would only delay the error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import tenacity
from botocore.exceptions import BotoCoreError, ClientError, IncompleteReadError
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker, TransientRetryableChecker

log = logging.getLogger(__name__)

_BOTOCORE_CHECKERS = (TransientRetryableChecker(), ThrottledRetryableChecker())
_TRANSIENT_HTTP_STATUS = frozenset({429, 500, 502, 503, 504})
_TRANSIENT_CLASSES = frozenset(
    {
        "http.client.IncompleteRead",
        "urllib3.exceptions.ProtocolError",
        "urllib3.exceptions.TimeoutError",
        "urllib3.exceptions.NewConnectionError",
        "aiohttp.client_exceptions.ClientConnectionError",
        "aiohttp.client_exceptions.ClientPayloadError",
        "fsspec.exceptions.FSTimeoutError",
    }
)
_STATUS_CLASSES = frozenset({"aiohttp.client_exceptions.ClientResponseError", "urllib.error.HTTPError"})
_PERMANENT_BUILTINS = (FileNotFoundError, PermissionError, KeyError, ValueError, TypeError)
_ICECHUNK_TRANSIENT_KINDS = frozenset({"throttled", "semaphore-acquire"})
_ICECHUNK_STORAGE_KINDS = frozenset({"object-store", "io", "storage-other"})
# the AWS SDK's (and hyper's) words for a request that failed on the way, not by the service
_ICECHUNK_TRANSIENT_PHRASES = (
    "dispatch failure",
    "request has timed out",
    "response error",
    "streaming error",
    "end of file before message length",
    "connection reset",
    "connection closed",
    "timed out",
)
# AWS error codes sent only with a 5xx status: transient where the status is lost (icechunk's messages)
_SERVER_ERROR_CODES = frozenset(
    {"InternalError", "InternalServerError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException"}
)
_SERVICE_CODE = re.compile(r'code: "(\w+)"|unhandled error \((\w+)\)')


@dataclass(frozen=True, slots=True)
class _HttpStatus:
    """The part of an HTTP response botocore's retry checkers read."""

    status_code: int
    headers: dict[str, str]


def botocore_says_transient(code: str | None, status: int | None = None, caught: BaseException | None = None) -> bool:
    """botocore standard mode's verdict on an error code, an HTTP status or a caught exception."""
    context = RetryContext(
        attempt_number=1,
        parsed_response={"Error": {"Code": code}} if code else None,
        http_response=_HttpStatus(status, {}) if status is not None else None,
        caught_exception=caught,
    )
    return any(checker.is_retryable(context) for checker in _BOTOCORE_CHECKERS)


def _class_names(error: BaseException) -> set[str]:
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(error).__mro__}


def _icechunk_verdict(error: BaseException) -> bool | None:
    kind = str(getattr(error, "kind", "") or "")
    if kind in _ICECHUNK_TRANSIENT_KINDS:
        return True
    if kind not in _ICECHUNK_STORAGE_KINDS:
        return False
    message = str(error).lower()
    found = _SERVICE_CODE.search(str(error))
    if found is not None:
        code = found.group(1) or found.group(2)
        return code in _SERVER_ERROR_CODES or botocore_says_transient(code)
    return any(phrase in message for phrase in _ICECHUNK_TRANSIENT_PHRASES)


def _verdict(error: BaseException) -> bool | None:
    """True transient, False permanent, None: no verdict of its own (look at its cause)."""
    if isinstance(error, ClientError):
        metadata = error.response.get("ResponseMetadata", {})
        return botocore_says_transient(error.response.get("Error", {}).get("Code"), metadata.get("HTTPStatusCode"))
    if isinstance(error, IncompleteReadError):
        return True
    if isinstance(error, BotoCoreError):
        return botocore_says_transient(None, caught=error)
    if isinstance(error, BaseExceptionGroup):
        return all(is_transient(member) for member in error.exceptions)
    names = _class_names(error)
    if type(error).__module__.startswith("icechunk"):
        return _icechunk_verdict(error)
    if names & _STATUS_CLASSES:
        status = getattr(error, "status", None) or getattr(error, "code", None)
        return isinstance(status, int) and status in _TRANSIENT_HTTP_STATUS
    if isinstance(error, ConnectionError | TimeoutError) or names & _TRANSIENT_CLASSES:
        return True
    if isinstance(error, _PERMANENT_BUILTINS):
        return False
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)


def is_transient(error: BaseException) -> bool:
    """True when retrying the failed call may succeed (see the module docstring for the rules)."""
    for link in _chain(error):
        verdict = _verdict(link)
        if verdict is not None:
            return verdict
    return False


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` tries in all, waits doubling from ``initial_wait`` up to ``max_wait`` seconds."""

    attempts: int = 3
    initial_wait: float = 0.5
    max_wait: float = 8.0


def _loop_settings(policy: RetryPolicy, what: str) -> dict[str, Any]:
    def warn(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        log.warning("%s: transient error on attempt %d, retrying: %s", what or "call", state.attempt_number, error)

    return {
        "stop": tenacity.stop_after_attempt(max(1, policy.attempts)),
        "wait": tenacity.wait_exponential(multiplier=policy.initial_wait, max=policy.max_wait),
        "retry": tenacity.retry_if_exception(is_transient),
        "before_sleep": warn,
        "reraise": True,
    }


def retrying(policy: RetryPolicy, what: str = "") -> tenacity.Retrying:
    """A tenacity loop that retries transient errors only, re-raising the last error unchanged."""
    return tenacity.Retrying(**_loop_settings(policy, what))


def retrying_async(policy: RetryPolicy, what: str = "") -> tenacity.AsyncRetrying:
    """``retrying`` for coroutines: ``async for attempt in retrying_async(…): with attempt: …``."""
    return tenacity.AsyncRetrying(**_loop_settings(policy, what))


def call_with_retry[T](function: Callable[[], T], policy: RetryPolicy, what: str = "") -> tuple[T, int]:
    """``function()`` retried on transient errors; returns (result, attempts used)."""
    attempts = 0

    def attempt() -> T:
        nonlocal attempts
        attempts += 1
        return function()

    return retrying(policy, what)(attempt), attempts


def retry_transient[F: Callable[..., Any]](policy: RetryPolicy, what: str = "") -> Callable[[F], F]:
    """Decorator form of ``retrying``: each call of the function is retried on transient errors."""

    def decorate(function: F) -> F:
        return cast(F, retrying(policy, what or function.__qualname__).wraps(function))

    return decorate
