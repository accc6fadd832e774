"""Metric names shared by the pipeline, the API, the smoke tools and the CloudWatch alarms.

Metrics are emitted as CloudWatch Embedded Metric Format (EMF) log lines: one JSON object per
line on stdout, which CloudWatch Logs turns into metrics with no API call. Every component writes
them through Powertools' Metrics (``emit_metrics`` here; the API's Lambda uses ``Metrics``
directly) with one dimension casing. The deploy template's alarms refer to these names.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any, Final, Literal, TextIO

NAMESPACE: Final = "ForecastPanel"
SMOKE_NAMESPACE: Final = "ForecastPanel/Smoke"

EXTRACTION_SUCCESS: Final = "ExtractionSuccess"  # 1 per run that published, else 0
EXTRACTION_ERRORS: Final = "ExtractionErrors"  # errors recorded in extraction_status
EXTRACTION_DURATION: Final = "ExtractionDurationSeconds"
DATA_AGE_HOURS: Final = "LatestInitAgeHours"  # age of the newest published init
POINTS_WRITES: Final = "PointWrites"  # write-back API: successful creates/updates/deletes
POINTS_REJECTED: Final = "PointWritesRejected"  # 409/422 answers
STORAGE_BYTES: Final = "ArtifactStoreBytes"
STORAGE_OBJECTS: Final = "ArtifactStoreObjects"

Unit = Literal["Count", "Seconds", "Milliseconds", "Bytes", "None"]
SERVICE_DIMENSION: Final = "service"
"""The one dimension casing: Powertools' own ``service`` dimension (the API's Metrics sets it too)."""


def emf_document(
    metrics: Mapping[str, tuple[float, Unit]],
    *,
    service: str,
    dimensions: Mapping[str, str] | None = None,
    namespace: str = NAMESPACE,
) -> dict[str, Any]:
    """One EMF document carrying ``metrics`` (name → (value, unit)), serialised by Powertools'
    ``EphemeralMetrics`` — the mechanism the API's Lambda uses — with ``service`` as the
    ``service`` dimension plus ``dimensions`` (lower-case names, as Powertools writes its own)."""
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

    recorder = EphemeralMetrics(namespace=namespace, service=service)
    for dimension, label in (dimensions or {}).items():
        recorder.add_dimension(name=dimension, value=label)
    for name, (value, unit) in metrics.items():
        recorder.add_metric(name=name, unit=MetricUnit(unit), value=value)
    document: dict[str, Any] = dict(recorder.serialize_metric_set())
    return document


def emit_metrics(
    metrics: Mapping[str, tuple[float, Unit]],
    *,
    service: str,
    dimensions: Mapping[str, str] | None = None,
    namespace: str = NAMESPACE,
    stream: TextIO | None = None,
) -> str:
    """Print ``emf_document`` as one JSON line (stdout by default) and return the line."""
    line = json.dumps(emf_document(metrics, service=service, dimensions=dimensions, namespace=namespace),
                      separators=(",", ":"))  # fmt: skip
    target = stream or sys.stdout
    target.write(line + "\n")
    target.flush()
    return line
