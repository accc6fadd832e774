"""Compare-and-swap of one S3 object with boto3 (s3fs has no ``IfMatch`` write API).

``swap`` reads the object and its ETag, lets ``change`` compute the new bytes, and writes them with
``IfMatch=<etag>`` (``IfNoneMatch="*"`` when the object does not exist yet). S3 answers 412 when
another writer won, 409 on a concurrent conditional write and (moto) 404 for ``IfMatch`` on a
missing key; botocore retries none of these, so the loop re-reads and retries with jittered
exponential backoff. ``change`` must be a pure function of the bytes it is given.

moto checks the condition and writes without a lock, so two writers can both "win" there; callers
that must be exact under moto also serialise in-process (``PROCESS_LOCK``) and/or verify after
writing. Real S3 evaluates the condition atomically.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from forecast_core.store import S3_RETRY_CONFIG, s3_endpoint_url
from points_api.errors import StorageConflict

log = logging.getLogger(__name__)
_RETRY_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412", "409", "404"}
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


def read_object(client: Any, target: S3Object) -> tuple[bytes | None, str | None]:
    """The object's bytes and ETag, or (None, None) when it does not exist."""
    try:
        response = client.get_object(Bucket=target.bucket, Key=target.key)
    except ClientError as error:
        if _error_code(error) in {"NoSuchKey", "404"}:
            return None, None
        raise
    return response["Body"].read(), str(response["ETag"])


def put_if_unchanged(client: Any, target: S3Object, data: bytes, etag: str | None) -> bool:
    """Write ``data`` if the object still has ``etag`` (None: if it is still absent).

    True when written; False when another writer got there first (412/409/404).
    """
    condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
    try:
        client.put_object(Bucket=target.bucket, Key=target.key, Body=data, ContentType="application/json", **condition)
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
    """Apply ``change`` to the object atomically and return its second value.

    ``change(old_bytes_or_None) -> (new_bytes, result)`` may raise to abort (nothing is written).
    Raises StorageConflict when every attempt lost the race.
    """
    for attempt in range(attempts):
        data, etag = read_object(client, target)
        new_bytes, result = change(data)
        if put_if_unchanged(client, target, new_bytes, etag):
            return result
        delay = random.uniform(0, min(1.0, base_delay * 2**attempt))  # noqa: S311 (jitter, not crypto)
        log.info("s3 swap of %s lost a race; retry in %.3f s", target.key, delay)
        time.sleep(delay)
    raise StorageConflict(f"could not update {target.key} after {attempts} attempts; try again")
