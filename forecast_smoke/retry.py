"""Retry with exponential backoff for transient errors, and the S3 client the tools share.

Two layers, as in aws-notes §6.3: every boto3 client uses botocore's ``standard`` retry mode
(throttling, 5xx, timeouts; exponential backoff), and reads of forecast sources (HTTP or S3
through Icechunk / fsspec, which have no botocore retry policy of ours) are wrapped in
``call_with_retry`` — tenacity, retrying only what ``forecast_core.transient.is_transient`` calls
transient (the one classifier the pipeline, app and API use too).
"""

from __future__ import annotations

from typing import Any

from forecast_core.transient import RetryPolicy, call_with_retry, is_transient

__all__ = ["RetryPolicy", "call_with_retry", "is_transient", "s3_client"]


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
