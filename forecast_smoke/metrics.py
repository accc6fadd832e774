"""Metric push for the smoke steps: CloudWatch ``put_metric_data`` and/or EMF log lines.

Namespace ``ForecastPanel/Smoke`` (``forecast_core.observability.SMOKE_NAMESPACE``), dimensions
``service`` (``smoke``) and ``step`` (``zarr-query``, ``s3-upload``, ``s3-read``), in EMF lines and
in ``put_metric_data`` alike. Metric names are below; a scheduled run
alarms on ``SmokeFailures`` > 0 or a missing ``SmokeItems`` datapoint.
"""

from __future__ import annotations

from typing import Any, Final, TextIO

from forecast_core.observability import SERVICE_DIMENSION, SMOKE_NAMESPACE, Unit, emit_metrics
from forecast_smoke.models import Rollup

SMOKE_ITEMS: Final = "SmokeItems"
SMOKE_FAILURES: Final = "SmokeFailures"
SMOKE_P50: Final = "SmokeLatencyP50Seconds"
SMOKE_P95: Final = "SmokeLatencyP95Seconds"
SMOKE_BYTES: Final = "SmokeBytes"
SMOKE_SERVICE: Final = "smoke"
STEP_DIMENSION: Final = "step"


def rollup_metrics(rollup: Rollup) -> dict[str, tuple[float, Unit]]:
    """Metric name → (value, unit) for one step; latencies only when there were items."""
    metrics: dict[str, tuple[float, Unit]] = {
        SMOKE_ITEMS: (float(rollup.count), "Count"),
        SMOKE_FAILURES: (float(rollup.failed), "Count"),
        SMOKE_BYTES: (float(rollup.bytes), "Bytes"),
    }
    if rollup.p50_seconds is not None and rollup.p95_seconds is not None:
        metrics[SMOKE_P50] = (rollup.p50_seconds, "Seconds")
        metrics[SMOKE_P95] = (rollup.p95_seconds, "Seconds")
    return metrics


def write_emf(rollup: Rollup, stream: TextIO | None = None) -> str:
    """Print one EMF line for ``rollup`` (to stdout by default) and return it."""
    return emit_metrics(rollup_metrics(rollup), service=SMOKE_SERVICE, dimensions={STEP_DIMENSION: rollup.step},
                        namespace=SMOKE_NAMESPACE, stream=stream)  # fmt: skip


def put_cloudwatch(rollup: Rollup, endpoint_url: str | None = None, client: Any = None) -> None:
    """Push ``rollup`` with ``put_metric_data`` (botocore standard retries).

    The endpoint is ``endpoint_url`` or boto3's own resolution (``AWS_ENDPOINT_URL_CLOUDWATCH``,
    ``AWS_ENDPOINT_URL``, then AWS).
    """
    if client is None:
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "cloudwatch", endpoint_url=endpoint_url, config=Config(retries={"mode": "standard", "max_attempts": 5})
        )
    dimensions = [{"Name": SERVICE_DIMENSION, "Value": SMOKE_SERVICE}, {"Name": STEP_DIMENSION, "Value": rollup.step}]
    data = [
        {"MetricName": name, "Dimensions": dimensions, "Value": value, "Unit": unit}
        for name, (value, unit) in rollup_metrics(rollup).items()
    ]
    client.put_metric_data(Namespace=SMOKE_NAMESPACE, MetricData=data)
