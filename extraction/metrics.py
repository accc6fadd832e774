"""CloudWatch EMF lines for a run (printed on stdout; CloudWatch Logs turns them into metrics)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from forecast_core.observability import (
    DATA_AGE_HOURS,
    EXTRACTION_DURATION,
    EXTRACTION_ERRORS,
    EXTRACTION_SUCCESS,
    Unit,
    emit_metrics,
)
from forecast_core.status import RunManifest

if TYPE_CHECKING:
    from extraction.pipeline import RunReport

EXTRACTION_SERVICE = "extraction"  # the alarms' dimension (deploy/template.yaml)


def run_metrics(
    report: RunReport, manifest: RunManifest | None, now: datetime | None = None
) -> dict[str, tuple[float, Unit]]:
    """ExtractionSuccess (1 when this run published or had nothing to do), errors, duration and
    the age of the newest published init in hours (when any run has been published)."""
    metrics: dict[str, tuple[float, Unit]] = {
        EXTRACTION_SUCCESS: (1.0 if report.outcome in ("success", "partial", "skipped") else 0.0, "Count"),
        EXTRACTION_ERRORS: (float(len(report.errors)), "Count"),
        EXTRACTION_DURATION: (round(report.duration_seconds, 3), "Seconds"),
    }
    if manifest is not None and manifest.sources:
        newest = max(info.init_time for info in manifest.sources)
        age = ((now or datetime.now(UTC)) - newest).total_seconds() / 3600.0
        metrics[DATA_AGE_HOURS] = (round(age, 2), "None")
    return metrics


def emit_run_metrics(report: RunReport, manifest: RunManifest | None) -> None:
    """Print the run's EMF line on stdout (dimension ``service=extraction``)."""
    emit_metrics(run_metrics(report, manifest), service=EXTRACTION_SERVICE)
