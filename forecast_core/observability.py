"""Metric names shared by the pipeline, the API, the smoke tools and the CloudWatch alarms.

Metrics are emitted as CloudWatch Embedded Metric Format (EMF) log lines: one JSON object per
line on stdout, which CloudWatch Logs turns into metrics with no API call. The deploy template's
alarms refer to these names.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Final, Literal

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


def emf_line(
    metrics: Mapping[str, tuple[float, Unit]],
    dimensions: Mapping[str, str] | None = None,
    namespace: str = NAMESPACE,
    timestamp_ms: int | None = None,
) -> str:
    """One EMF JSON line carrying ``metrics`` (name → (value, unit)) under ``dimensions``."""
    dims = dict(dimensions or {})
    document: dict[str, object] = {
        "_aws": {
            "Timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [sorted(dims)] if dims else [[]],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
                }
            ],
        },
        **dims,
        **{name: value for name, (value, _) in metrics.items()},
    }
    return json.dumps(document, separators=(",", ":"))
