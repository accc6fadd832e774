"""Fault plans of the misbehaving S3 proxy (``forecast_smoke.s3_proxy``): which requests fail, how.

A ``FaultPlan`` says what share of requests (``rate``) gets one of its fault ``kinds``, optionally
only requests a ``match`` predicate accepts, and at most ``limit`` faults in all. The draw for a
request is a hash of the seed and the request's identity (method, path, range, DynamoDB target,
the body's digest when it is small) and of how many times that identity was seen before, so the
same client calls draw the same faults whatever the order the threads of a parallel client send
them in, and a retry of a request draws afresh.

Kinds (``FAULT_KINDS``):

- ``slowdown``: S3 503 SlowDown (XML error body); DynamoDB 400 ThrottlingException (JSON).
- ``internal``: 500 InternalError (S3 XML; DynamoDB JSON InternalServerError).
- ``slow``: the answer is held ``slow_seconds`` longer (well beyond latency, below client timeouts).
- ``reset``: the connection is reset before any response; upstream never sees the request.
- ``truncate``: the answer's headers carry the full Content-Length, then part of the body and the
  connection closes (only answers with a body; others pass untouched and count no fault).
- ``lost_response``: the request reaches upstream and TAKES EFFECT, then the connection is reset
  instead of relaying the answer (the client cannot tell whether its write happened).
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

FAULT_KINDS = ("slowdown", "internal", "slow", "reset", "truncate", "lost_response")
DYNAMODB_TARGET_PREFIX = "DynamoDB_20120810."


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What a fault predicate sees of a request: method, path with query, headers (lower-case names)."""

    method: str
    path: str
    headers: Mapping[str, str]

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def is_dynamodb(self) -> bool:
        return (self.header("x-amz-target") or "").startswith(DYNAMODB_TARGET_PREFIX)


RequestPredicate = Callable[[RequestInfo], bool]


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """A seeded share of requests answered with faults; the default plan injects nothing."""

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 0
    match: RequestPredicate | None = None
    limit: int | None = None
    slow_seconds: float = 1.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.kinds) - set(FAULT_KINDS))
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {', '.join(FAULT_KINDS)}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be within [0, 1], got {self.rate}")
        if not self.kinds and self.rate > 0:
            raise ValueError("a fault rate above 0 needs at least one fault kind")


@dataclass(slots=True)
class ProxyStats:
    """Counters of one proxy: requests forwarded or answered, faults injected per kind, and the
    (kind, method, path) of every fault in order."""

    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    injected: list[tuple[str, str, str]] = field(default_factory=list)


class FaultDecider:
    """Draws each request's fault from the current plan and keeps the proxy's counters (thread-safe)."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self._lock = threading.Lock()
        self._plan = plan or FaultPlan()
        self._seen: Counter[str] = Counter()
        self._stats = ProxyStats()

    @property
    def plan(self) -> FaultPlan:
        with self._lock:
            return self._plan

    @plan.setter
    def plan(self, plan: FaultPlan) -> None:
        with self._lock:
            self._plan = plan

    def stats(self) -> ProxyStats:
        """A copy of the counters so far."""
        with self._lock:
            return ProxyStats(self._stats.requests, Counter(self._stats.faults), list(self._stats.injected))

    def reset(self) -> None:
        """Zero the counters and forget the requests seen: the same calls then draw the same faults again."""
        with self._lock:
            self._stats = ProxyStats()
            self._seen.clear()

    def decide(self, request: RequestInfo, body_digest: str = "") -> tuple[str | None, FaultPlan]:
        """The fault kind to inject on ``request`` (None: none) and the plan it was drawn from."""
        identity = "|".join(
            (
                request.method,
                request.path,
                request.header("range") or "",
                request.header("x-amz-target") or "",
                body_digest,
            )
        )
        with self._lock:
            plan = self._plan
            self._stats.requests += 1
            occurrence = self._seen[identity]
            self._seen[identity] += 1
            if plan.rate <= 0 or (plan.limit is not None and sum(self._stats.faults.values()) >= plan.limit):
                return None, plan
        if plan.match is not None and not plan.match(request):
            return None, plan
        digest = hashlib.sha256(f"{plan.seed}|{occurrence}|{identity}".encode()).digest()
        draw = int.from_bytes(digest[:8], "big") / 2**64
        if draw >= plan.rate:
            return None, plan
        return plan.kinds[int.from_bytes(digest[8:12], "big") % len(plan.kinds)], plan

    def record(self, kind: str, request: RequestInfo) -> None:
        """Count one injected fault (called once it really happened)."""
        with self._lock:
            self._stats.faults[kind] += 1
            self._stats.injected.append((kind, request.method, request.path))


# --- ready-made predicates -------------------------------------------------------------------------


def conditional_write(request: RequestInfo) -> bool:
    """An S3 PUT with If-Match or If-None-Match (a compare-and-swap or create-if-absent)."""
    return request.method == "PUT" and bool(request.header("if-match") or request.header("if-none-match"))


def dynamodb_action(*actions: str) -> RequestPredicate:
    """DynamoDB calls of the given actions (e.g. ``TransactWriteItems``), by X-Amz-Target."""
    targets = frozenset(f"{DYNAMODB_TARGET_PREFIX}{action}" for action in actions)
    return lambda request: request.header("x-amz-target") in targets


def s3_only(request: RequestInfo) -> bool:
    """Any request that is not a DynamoDB call."""
    return not request.is_dynamodb


def any_of(*predicates: RequestPredicate) -> RequestPredicate:
    return lambda request: any(predicate(request) for predicate in predicates)


# --- error bodies -----------------------------------------------------------------------------------

_S3_ERRORS = {
    "slowdown": (503, "Service Unavailable", "SlowDown", "Please reduce your request rate."),
    "internal": (500, "Internal Server Error", "InternalError", "We encountered an internal error. Please try again."),
}
_DYNAMODB_ERRORS = {
    "slowdown": (400, "Bad Request", "ThrottlingException", "Rate of requests exceeds the allowed throughput."),
    "internal": (500, "Internal Server Error", "InternalServerError", "Internal server error"),
}


def error_response(kind: str, request: RequestInfo, request_id: str) -> tuple[int, str, str, bytes]:
    """(status, reason, content type, body) of the service error ``kind`` stands for."""
    if request.is_dynamodb:
        status, reason, code, message = _DYNAMODB_ERRORS[kind]
        namespace = "com.amazonaws.dynamodb.v20120810" if kind == "internal" else "com.amazon.coral.availability"
        body = f'{{"__type":"{namespace}#{code}","message":"{message}"}}'
        return status, reason, "application/x-amz-json-1.0", body.encode()
    status, reason, code, message = _S3_ERRORS[kind]
    resource = escape(request.path.split("?", 1)[0])
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<Resource>{resource}</Resource><RequestId>{request_id}</RequestId></Error>"
    )
    return status, reason, "application/xml", body.encode()
