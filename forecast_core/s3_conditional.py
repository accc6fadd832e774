"""Conditional reads and writes of one S3 object with boto3 (s3fs has no ``If-Match`` write API).

A version is the object's ETag. ``put_if_version`` writes with ``IfMatch=<etag>`` (``IfNoneMatch="*"``
when the object must not exist yet); S3 answers 412 when another writer won, 409 while another
conditional write of the key is in flight, and moto 404 for ``IfMatch`` on a missing key: all of
them mean "the condition failed" (False), and botocore retries none of them.

Every write also records the caller's write tokens in the object's metadata
(``x-amz-meta-write-tokens``, the latest ``TOKEN_HISTORY``), read back with the object: a
conditional write whose answer was lost after it took effect is sent again by botocore and then
fails its own condition, and only the token tells that apart from a lost race
(``forecast_core.swap``).
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from typing import Any

from forecast_core.transient import RetryPolicy, retrying

TOKENS_METADATA = "write-tokens"  # x-amz-meta-write-tokens: the tokens of the object's latest writes
TOKEN_HISTORY = 16
BODY_READ_RETRY = RetryPolicy(attempts=5, initial_wait=0.2, max_wait=2.0)
_CONDITION_FAILED = {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412", "409", "404"}
_ABSENT = {"NoSuchKey", "404"}


@dataclass(frozen=True, slots=True)
class Versioned:
    """An object's bytes, an opaque version for ``replace_if`` (S3 ETag, else sha256) and the
    write tokens its latest conditional writes recorded (S3 only; empty elsewhere)."""

    data: bytes
    version: str
    tokens: tuple[str, ...] = ()


def client_error_code(error: Any) -> str:
    """The error code of a botocore ``ClientError`` ("" when it has none)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def read_versioned(client: Any, bucket: str, key: str) -> Versioned | None:
    """The object with its ETag and write tokens, or None when it does not exist; read again when
    the body is cut short or the read fails transiently after botocore's retries (botocore retries
    the request, not the streaming of its body)."""
    from botocore.exceptions import ClientError

    def read() -> Versioned | None:
        try:
            response = client.get_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if client_error_code(error) in _ABSENT:
                return None
            raise
        tokens = tuple(str(response.get("Metadata", {}).get(TOKENS_METADATA, "")).split())
        return Versioned(response["Body"].read(), str(response["ETag"]), tokens)

    found: Versioned | None = retrying(BODY_READ_RETRY, f"read {key}")(read)
    return found


def put_if_version(
    client: Any, bucket: str, key: str, data: bytes, expected: str | None, tokens: tuple[str, ...] = ()
) -> bool:
    """Write ``data`` if the object still has ETag ``expected`` (None: if it is still absent),
    recording the last ``TOKEN_HISTORY`` of ``tokens``. True when written, False when the
    condition failed; any other error is raised."""
    from botocore.exceptions import ClientError

    condition = {"IfMatch": expected} if expected else {"IfNoneMatch": "*"}
    kept = tokens[-TOKEN_HISTORY:]
    metadata = {TOKENS_METADATA: " ".join(kept)} if kept else {}
    content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    try:
        client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type, Metadata=metadata, **condition)
    except ClientError as error:
        if client_error_code(error) in _CONDITION_FAILED:
            return False
        raise
    return True
