"""``smoke s3-upload`` and ``smoke s3-read``: copy the query JSONs to S3 and read them back.

boto3 with botocore's standard retries (``forecast_smoke.retry.s3_client``); the endpoint is
``--endpoint-url`` or ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, so AWS, moto and MinIO work
alike. Each object is timed on its own; a failure is recorded and the step carries on.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Final

from pydantic import ValidationError

from forecast_core.base import utc_now
from forecast_smoke.models import (
    PayloadKind,
    QueryResult,
    QueryStatus,
    QuerySummary,
    ReadItem,
    ReadSummary,
    UploadItem,
    UploadSummary,
)
from forecast_smoke.retry import RetryPolicy, call_with_retry
from forecast_smoke.rollup import make_rollup
from forecast_smoke.schemas import write_output

log = logging.getLogger(__name__)
BODY_RETRY = RetryPolicy(attempts=4, initial_wait=0.1, max_wait=2.0)

UPLOAD_SUMMARY_FILE: Final = "s3_upload_summary.json"
READ_SUMMARY_FILE: Final = "s3_read_summary.json"


def _key(prefix: str, name: str) -> str:
    return f"{prefix.strip('/')}/{name}" if prefix.strip("/") else name


def _retries(response: Any) -> int:
    return int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0)) if isinstance(response, dict) else 0


def get_object_bytes(client: Any, bucket: str, key: str) -> tuple[bytes, int]:
    """The object's bytes and the retries it took: botocore retries the request, not the reading
    of its body, so a body cut short (or any transient failure) is read again from the start."""

    def get() -> tuple[bytes, int]:
        response = client.get_object(Bucket=bucket, Key=key)
        return response["Body"].read(), _retries(response)

    (data, retried), attempts = call_with_retry(get, BODY_RETRY, f"read s3://{bucket}/{key}")
    return data, retried + attempts - 1


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def upload_dir(
    client: Any, bucket: str, prefix: str, input_dir: Path, *, pattern: str = "*.json", endpoint_url: str | None = None
) -> UploadSummary:
    """Upload every file of ``input_dir`` matching ``pattern`` (not recursive) to ``prefix/<name>``.

    ``s3_upload_summary.json`` itself is never uploaded; it is written into ``input_dir``.
    """
    files = sorted(path for path in input_dir.glob(pattern) if path.is_file() and path.name != UPLOAD_SUMMARY_FILE)
    started_utc, started = utc_now(), time.perf_counter()
    items: list[UploadItem] = []
    for path in files:
        key = _key(prefix, path.name)
        data = path.read_bytes()
        began = time.perf_counter()
        try:
            response = client.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json")
            item = UploadItem(
                file=path.name,
                key=key,
                bytes=len(data),
                duration_seconds=time.perf_counter() - began,
                status="ok",
                retry_attempts=_retries(response),
            )
        except Exception as error:  # noqa: BLE001 (recorded, the step carries on)
            item = UploadItem(
                file=path.name,
                key=key,
                bytes=len(data),
                duration_seconds=time.perf_counter() - began,
                status="failed",
                error=_error_text(error),
            )
        log.info(
            "upload file=%s key=s3://%s/%s bytes=%d duration=%.3fs status=%s retries=%d%s",
            item.file, bucket, item.key, item.bytes, item.duration_seconds, item.status, item.retry_attempts,
            f" error={item.error}" if item.error else "",
        )  # fmt: skip
        items.append(item)
    rollup = make_rollup(
        "s3-upload",
        [item.duration_seconds for item in items],
        sum(item.status == "ok" for item in items),
        sum(item.bytes for item in items if item.status == "ok"),
        time.perf_counter() - started,
    )
    summary = UploadSummary(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint_url,
        started_utc=started_utc,
        finished_utc=datetime.now(UTC),
        files=items,
        rollup=rollup,
    )
    write_output("s3_upload_summary", summary, input_dir / UPLOAD_SUMMARY_FILE)
    return summary


def list_keys(client: Any, bucket: str, prefix: str, max_files: int) -> list[str]:
    """The first ``max_files`` keys under ``prefix`` in key order (paginated listing)."""
    keys: list[str] = []
    list_prefix = _key(prefix, "") if prefix.strip("/") else ""
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=list_prefix):
        keys.extend(str(entry["Key"]) for entry in page.get("Contents", []))
    return sorted(keys)[: max(0, max_files)]


def classify_payload(data: bytes) -> tuple[PayloadKind, QueryStatus | None]:
    """(payload kind, the payload's query status) of a smoke JSON read back from S3."""
    try:
        return "query", QueryResult.model_validate_json(data).metrics.status
    except ValidationError:
        pass
    try:
        summary = QuerySummary.model_validate_json(data)
    except ValidationError:
        pass
    else:
        statuses = {item.status for item in summary.queries}
        overall: QueryStatus = "failed" if "failed" in statuses else "empty" if "empty" in statuses else "ok"
        return "summary", overall
    try:
        UploadSummary.model_validate_json(data)
    except ValidationError:
        return "other", None
    return "upload_summary", None


def read_prefix(
    client: Any, bucket: str, prefix: str, output_dir: Path, *, max_files: int, endpoint_url: str | None = None
) -> ReadSummary:
    """Read up to ``max_files`` objects under ``prefix``; save local copies under ``output_dir``.

    A copy keeps the key's path below ``prefix``. The payload kind and query status come from
    validating the bytes against the smoke models (``other`` when none matches).
    """
    started_utc, started = utc_now(), time.perf_counter()
    output_dir.mkdir(parents=True, exist_ok=True)
    items: list[ReadItem] = []
    root = output_dir.resolve()
    for key in list_keys(client, bucket, prefix, max_files):
        began = time.perf_counter()
        relative = PurePosixPath(key[len(_key(prefix, "")) :] if prefix.strip("/") else key)
        try:
            data, retried = get_object_bytes(client, bucket, key)
            duration = time.perf_counter() - began
            local = (root / relative).resolve()
            if root not in local.parents or relative.name in (READ_SUMMARY_FILE, ""):
                raise ValueError(f"refusing to write {key!r} outside {output_dir} or over the summary")
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(data)
            kind, query_status = classify_payload(data)
            item = ReadItem(
                key=key,
                local_file=str(local.relative_to(root)),
                bytes=len(data),
                duration_seconds=duration,
                status="ok",
                payload_kind=kind,
                query_status=query_status,
                retry_attempts=retried,
            )
        except Exception as error:  # noqa: BLE001 (recorded, the step carries on)
            item = ReadItem(
                key=key,
                bytes=0,
                duration_seconds=time.perf_counter() - began,
                status="failed",
                payload_kind="unreadable",
                error=_error_text(error),
            )
        log.info(
            "read key=s3://%s/%s bytes=%d duration=%.3fs status=%s payload=%s query_status=%s%s",
            bucket, key, item.bytes, item.duration_seconds, item.status, item.payload_kind, item.query_status,
            f" error={item.error}" if item.error else "",
        )  # fmt: skip
        items.append(item)
    rollup = make_rollup(
        "s3-read",
        [item.duration_seconds for item in items],
        sum(item.status == "ok" for item in items),
        sum(item.bytes for item in items),
        time.perf_counter() - started,
    )
    summary = ReadSummary(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint_url,
        started_utc=started_utc,
        finished_utc=datetime.now(UTC),
        objects=items,
        rollup=rollup,
    )
    write_output("s3_read_summary", summary, output_dir / READ_SUMMARY_FILE)
    return summary
