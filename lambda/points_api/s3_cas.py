"""Compare-and-swap of one S3 object with boto3 (s3fs has no ``IfMatch`` write API).

``swap`` reads the object and its ETag, lets ``change`` compute the new bytes, and writes them with
``IfMatch=<etag>`` (``IfNoneMatch="*"`` when the object does not exist yet). S3 answers 412 when
another writer won, 409 on a concurrent conditional write and (moto) 404 for ``IfMatch`` on a
missing key; botocore retries none of these, so the loop re-reads and retries with jittered
exponential backoff. ``change`` must be a pure function of the bytes it is given.

A conditional put whose answer is lost after it took effect is sent again by botocore and then
fails its own condition; to tell that from a lost race, every put records a fresh token in the
object's metadata (``x-amz-meta-write-tokens``, the last 16 writes' tokens) and the next read
looks for it: found, the write landed once and ``swap`` returns its result.

moto checks the condition and writes without a lock, so two writers can both "win" there; callers
that must be exact under moto also serialise in-process (``PROCESS_LOCK``) and/or verify after
writing. Real S3 evaluates the condition atomically.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from forecast_core.store import S3_RETRY_CONFIG, s3_endpoint_url
from forecast_core.transient import RetryPolicy, is_transient, retrying
from points_api.errors import StorageConflict

log = logging.getLogger(__name__)
_RETRY_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412", "409", "404"}
TOKENS_METADATA = "write-tokens"  # x-amz-meta-write-tokens: the tokens of the object's latest writes
TOKEN_HISTORY = 16
READ_RETRY = RetryPolicy(attempts=4, initial_wait=0.05, max_wait=1.0)
PROCESS_LOCK = threading.RLock()


@dataclass(frozen=True)
class S3Object:
    """Where the compare-and-swapped object lives."""

    bucket: str
    key: str
    endpoint_url: str | None = None

    @classmethod
    def in_store(cls, store_url: str, key: str, endpoint_url: str | None = None) -> S3Object:
        """The object ``key`` of the ``s3://bucket[/prefix]`` store."""
        if not store_url.startswith("s3://"):
            raise ValueError(f"not an S3 store URL: {store_url!r}")
        bucket, _, prefix = store_url[len("s3://") :].strip("/").partition("/")
        return cls(bucket, f"{prefix}/{key}" if prefix else key, s3_endpoint_url(endpoint_url))


def s3_client(endpoint_url: str | None) -> Any:
    """A boto3 S3 client with botocore's standard retries, at ``endpoint_url`` (or AWS)."""
    return boto3.client("s3", endpoint_url=s3_endpoint_url(endpoint_url), config=Config(**S3_RETRY_CONFIG))


def _error_code(error: ClientError) -> str:
    response: dict[str, Any] = error.response
    return str(response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True)
class Stored:
    """The object as read: bytes and ETag (None when absent) and the tokens of its latest writes."""

    data: bytes | None
    etag: str | None
    tokens: tuple[str, ...] = ()


def read_stored(client: Any, target: S3Object) -> Stored:
    """The object, its ETag and its write-token history; read again when the body is cut short
    or the read fails transiently after botocore's retries (botocore retries the request, not
    the streaming of its body)."""

    def read() -> Stored:
        try:
            response = client.get_object(Bucket=target.bucket, Key=target.key)
        except ClientError as error:
            if _error_code(error) in {"NoSuchKey", "404"}:
                return Stored(None, None)
            raise
        tokens = tuple(str(response.get("Metadata", {}).get(TOKENS_METADATA, "")).split())
        return Stored(response["Body"].read(), str(response["ETag"]), tokens)

    stored: Stored = retrying(READ_RETRY, f"read {target.key}")(read)
    return stored


def read_object(client: Any, target: S3Object) -> tuple[bytes | None, str | None]:
    """The object's bytes and ETag, or (None, None) when it does not exist."""
    stored = read_stored(client, target)
    return stored.data, stored.etag


def put_if_unchanged(
    client: Any, target: S3Object, data: bytes, etag: str | None, token: str = "", history: tuple[str, ...] = ()
) -> bool:
    """Write ``data`` if the object still has ``etag`` (None: if it is still absent), recording
    ``token`` after the last ``TOKEN_HISTORY - 1`` tokens of ``history`` in its metadata.

    True when written; False when the condition failed (412/409/404) — another writer got there
    first, or this very write did and its first answer was lost (``swap`` tells them apart).
    """
    condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
    tokens = [*history[-(TOKEN_HISTORY - 1) :], token] if token else list(history[-TOKEN_HISTORY:])
    metadata = {TOKENS_METADATA: " ".join(tokens)} if tokens else {}
    try:
        client.put_object(
            Bucket=target.bucket, Key=target.key, Body=data, ContentType="application/json", Metadata=metadata,
            **condition,
        )  # fmt: skip
    except ClientError as error:
        if _error_code(error) not in _RETRY_CODES:
            raise
        return False
    return True


def swap[T](
    client: Any,
    target: S3Object,
    change: Callable[[bytes | None], tuple[bytes, T]],
    attempts: int = 12,
    base_delay: float = 0.02,
) -> T:
    """Apply ``change`` to the object exactly once and return its second value.

    ``change(old_bytes_or_None) -> (new_bytes, result)`` may raise to abort (nothing is written).
    Each put carries a fresh token; a put that failed its condition, or whose outcome is unknown
    (a transient error that outlasted botocore's retries), is decided by the next read: if the
    object's token history holds the token, the write landed and ``result`` is returned.
    Raises StorageConflict when every attempt lost the race.
    """
    pending: tuple[str, T] | None = None  # the token and result of a put whose outcome is unknown
    for attempt in range(attempts):
        stored = read_stored(client, target)
        if pending is not None and pending[0] in stored.tokens:
            return pending[1]  # our earlier put landed; only its answer was lost
        new_bytes, result = change(stored.data)
        token = uuid.uuid4().hex
        pending = (token, result)
        try:
            if put_if_unchanged(client, target, new_bytes, stored.etag, token, stored.tokens):
                return result
        except Exception as error:
            if not is_transient(error):
                raise
            log.warning("s3 swap of %s: outcome unknown after %s; re-reading", target.key, type(error).__name__)
        delay = random.uniform(0, min(1.0, base_delay * 2**attempt))  # noqa: S311 (jitter, not crypto)
        log.info("s3 swap of %s lost a race (or its answer); retry in %.3f s", target.key, delay)
        time.sleep(delay)
    raise StorageConflict(f"could not update {target.key} after {attempts} attempts; try again")
