"""Plain S3 object operations over one boto3 client: what ``ArtifactStore`` does on S3.

A store's reads, writes, listings and deletes are one request each (a listing one per 1 000
keys), which boto3 — already needed for the compare-and-swap — does without s3fs, aiobotocore
and aiohttp (imports and a second client a short process, e.g. an extraction run, would pay at
its start). Keys here are the bucket's own; ``ArtifactStore`` maps store keys to them.

A missing object raises FileNotFoundError (``ArtifactStore`` turns it into ArtifactNotFound);
every other failure is botocore's own error, after botocore's standard retries. A body cut
short is read again whole (botocore retries requests, not the reading of a body).
"""

from __future__ import annotations

import mimetypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from forecast_core.transient import RetryPolicy, retrying

S3_RETRY_CONFIG: dict[str, Any] = {"retries": {"mode": "standard", "max_attempts": 5}}
BODY_READ_RETRY = RetryPolicy(attempts=5, initial_wait=0.2, max_wait=2.0)
POOL_CONNECTIONS = 32
"""Connections the shared client keeps open: every thread of a process shares it (an
extraction writes artifacts on 8 threads while the cleanup and alerts read); botocore's 10
would close and reopen the extra connections."""
TOKENS_METADATA = "write-tokens"  # x-amz-meta-write-tokens: the tokens of the object's latest writes
TOKEN_HISTORY = 16
_MISSING = {"NoSuchKey", "404", "NotFound"}
# S3 answers a lost conditional write with 412 (or 409 while another conditional write of the key
# is in flight); moto answers IfMatch on a missing key with 404
_CONDITION_FAILED = {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412", "409", "404"}


@dataclass(frozen=True, slots=True)
class Versioned:
    """An object's bytes, an opaque version for a conditional write (S3 ETag, else sha256) and the
    write tokens its latest conditional writes recorded (S3 only; empty elsewhere)."""

    data: bytes
    version: str
    tokens: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class S3Object:
    """One object of a listing or a HEAD: its key in the bucket, size and modification time."""

    key: str
    size: int
    last_modified: datetime | None


def error_code(error: Any) -> str:
    """The S3 error code of a botocore ClientError ("" if it has none)."""
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))


class S3Objects:
    """One lazily created boto3 S3 client at ``endpoint_url`` (botocore's standard retries),
    shared by every thread of the process that uses this instance."""

    def __init__(self, endpoint_url: str | None) -> None:
        self.endpoint_url = endpoint_url
        self._client: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """Picklable: the client and its lock are made again where it is unpickled."""
        return {"endpoint_url": self.endpoint_url}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["endpoint_url"])  # type: ignore[misc]

    def client(self) -> Any:
        """The boto3 client (created on first use; boto3 clients are thread-safe)."""
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                config = Config(**S3_RETRY_CONFIG, max_pool_connections=POOL_CONNECTIONS)
                self._client = boto3.client("s3", endpoint_url=self.endpoint_url, config=config)
            return self._client

    def get(self, bucket: str, key: str, first_bytes: int | None = None) -> bytes:
        """The object's bytes (only its first ``first_bytes`` if given) in one GET."""
        extra = {"Range": f"bytes=0-{first_bytes - 1}"} if first_bytes is not None else {}

        def read() -> bytes:
            with _missing_as_not_found(bucket, key):
                response = self.client().get_object(Bucket=bucket, Key=key, **extra)
            data: bytes = response["Body"].read()
            return data

        result: bytes = retrying(BODY_READ_RETRY, f"read {key}")(read)
        return result

    def get_versioned(self, bucket: str, key: str) -> Versioned | None:
        """The object's bytes, ETag (its version for ``put_if``) and write tokens, or None if there
        is none."""

        def read() -> Versioned | None:
            try:
                with _missing_as_not_found(bucket, key):
                    response = self.client().get_object(Bucket=bucket, Key=key)
            except FileNotFoundError:
                return None
            tokens = tuple(str(response.get("Metadata", {}).get(TOKENS_METADATA, "")).split())
            return Versioned(response["Body"].read(), str(response["ETag"]), tokens)

        found: Versioned | None = retrying(BODY_READ_RETRY, f"read {key}")(read)
        return found

    def put_if(self, bucket: str, key: str, data: bytes, expected: str | None, tokens: tuple[str, ...] = ()) -> bool:
        """Write ``data`` only if the object's ETag is still ``expected`` (None: only if there is
        no object), recording the last ``TOKEN_HISTORY`` of ``tokens`` in its metadata (a write
        whose answer was lost is then recognised by its token: ``forecast_core.swap``). True if
        written, False if the condition failed."""
        condition = {"IfMatch": expected} if expected else {"IfNoneMatch": "*"}
        kept = tokens[-TOKEN_HISTORY:]
        metadata = {TOKENS_METADATA: " ".join(kept)} if kept else {}
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        try:
            self.client().put_object(
                Bucket=bucket, Key=key, Body=data, ContentType=content_type, Metadata=metadata, **condition
            )
        except Exception as error:
            if error_code(error) in _CONDITION_FAILED:
                return False
            raise
        return True

    def put(self, bucket: str, key: str, data: bytes) -> None:
        """Write ``data`` at ``key`` (one PUT: readers see the old or the new object)."""
        self.client().put_object(Bucket=bucket, Key=key, Body=data)

    def head(self, bucket: str, key: str) -> S3Object:
        """Size and modification time of ``key`` (one HEAD)."""
        with _missing_as_not_found(bucket, key):
            found = self.client().head_object(Bucket=bucket, Key=key)
        return S3Object(key, int(found.get("ContentLength", 0)), found.get("LastModified"))

    def delete(self, bucket: str, key: str) -> None:
        """Delete ``key`` (deleting a missing key is no error on S3)."""
        self.client().delete_object(Bucket=bucket, Key=key)

    def list(self, bucket: str, prefix: str) -> Iterator[S3Object]:
        """Every object whose key starts with ``prefix``, in key order (one request per page)."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", []):
                yield S3Object(str(item["Key"]), int(item.get("Size", 0)), item.get("LastModified"))


@contextmanager
def _missing_as_not_found(bucket: str, key: str) -> Iterator[None]:
    """S3's "no such key" as FileNotFoundError; other errors pass unchanged."""
    try:
        yield
    except Exception as error:
        if error_code(error) in _MISSING:
            raise FileNotFoundError(f"s3://{bucket}/{key}") from error
        raise
