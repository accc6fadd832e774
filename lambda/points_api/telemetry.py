"""Powertools Logger and Metrics of the API (service ``points-api``, namespace ``ForecastPanel``).

Metrics are EMF lines on stdout, flushed once per invocation: ``PointWrites`` per successful write
and ``PointWritesRejected`` per 409/413/422 answer (names from ``forecast_core.observability``),
with the operation or reason as EMF metadata (dimension: ``service``).
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from forecast_core.observability import NAMESPACE, POINTS_REJECTED, POINTS_WRITES

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "points-api")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE), service=SERVICE)


def count_write(operation: str) -> None:
    """One successful create/update/delete."""
    metrics.add_metric(name=POINTS_WRITES, unit=MetricUnit.Count, value=1)
    metrics.add_metadata(key="operation", value=operation)


def count_rejected(reason: str) -> None:
    """One refused write (duplicate, validation, too large)."""
    metrics.add_metric(name=POINTS_REJECTED, unit=MetricUnit.Count, value=1)
    metrics.add_metadata(key="reason", value=reason)
