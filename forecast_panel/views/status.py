"""System Status view and the stale-data banner (render only; figures come from the DataStore).

Freshness: green while the last successful extraction is younger than ``yellow_after_hours``,
yellow until ``red_after_hours``, red after that or when there has never been one. The banner
shows when freshness is not green or the last run recorded errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, DatetimeTickFormatter, HoverTool, Range1d
from bokeh.plotting import figure

from forecast_core.status import ExtractionStatus, InventoryHistoryRow
from forecast_panel.data import DataStore
from forecast_panel.frames import escape
from forecast_panel.state import age_text

LIGHT_COLORS = {"green": "#2ca02c", "yellow": "#e6b800", "red": "#d62728"}


@dataclass(frozen=True, slots=True)
class FreshnessThresholds:
    """Hours after the last successful extraction at which data turn yellow, then red."""

    yellow_after_hours: float = 30.0
    red_after_hours: float = 54.0


def freshness(status: ExtractionStatus | None, thresholds: FreshnessThresholds, now: datetime | None = None) -> str:
    """'green', 'yellow' or 'red' for the age of the last successful extraction."""
    if status is None or status.last_successful_extract_utc is None:
        return "red"
    hours = ((now or datetime.now(UTC)) - status.last_successful_extract_utc).total_seconds() / 3600
    if hours < thresholds.yellow_after_hours:
        return "green"
    return "yellow" if hours < thresholds.red_after_hours else "red"


def banner_text(status: ExtractionStatus | None, thresholds: FreshnessThresholds) -> str | None:
    """Plain text of the load-time banner, or None when data are fresh and the run was clean."""
    light = freshness(status, thresholds)
    parts = []
    if status is None or status.last_successful_extract_utc is None:
        parts.append("No successful extraction has been recorded yet: forecasts may be missing.")
    elif light != "green":
        parts.append(
            f"Forecast data are stale: the last successful extraction was "
            f"{age_text(status.last_successful_extract_utc)} ({status.last_successful_extract_utc:%Y-%m-%d %H:%M} UTC)."
        )
    if status is not None and status.errors:
        parts.append(f"The last run reported {len(status.errors)} error(s); see System Status.")
    return " ".join(parts) or None


def banner(datastore: DataStore, thresholds: FreshnessThresholds) -> pn.pane.Alert:
    """The stale/error banner shown at load (hidden when there is nothing to say)."""
    text = banner_text(datastore.extraction_status(), thresholds)
    alert = pn.pane.Alert(
        escape(text or ""),
        alert_type="warning",
        sizing_mode="stretch_width",
        visible=text is not None,
        css_classes=["fp-banner"],
    )
    return alert


def _size(num_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if num_bytes < 1024 or unit == "TB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    return f"{num_bytes:.1f} TB"


def status_view(datastore: DataStore, thresholds: FreshnessThresholds) -> pn.Column:
    """The System Status tab: extraction, inventory, trend, cost and the freshness light."""
    status = datastore.extraction_status()
    inventory = datastore.inventory_status()
    light = freshness(status, thresholds)
    rows: list[tuple[str, str]] = []
    if status is None:
        rows.append(("Last successful extraction", "none recorded"))
    else:
        last = status.last_successful_extract_utc
        rows += [
            (
                "Last successful extraction",
                f"{last:%Y-%m-%d %H:%M} UTC ({age_text(last)})" if last else "never",
            ),
            ("Run id", status.run_id or "–"),
            ("Outcome", status.outcome),
            ("Sources processed", ", ".join(status.sources_processed) or "–"),
            ("Variables processed", ", ".join(status.variables_processed) or "–"),
            ("Errors", str(len(status.errors))),
        ]
    if inventory is None:
        rows.append(("Objects", "no inventory yet"))
    else:
        rows += [
            ("Objects", f"{inventory.object_count:,}"),
            ("Total size", _size(inventory.total_size_bytes)),
            ("Estimated monthly storage cost", f"${inventory.estimated_monthly_storage_usd:.4f}"),
            ("Inventory updated", f"{inventory.last_inventory_update_utc:%Y-%m-%d %H:%M} UTC"),
        ]
    table = "".join(
        f"<tr><th scope='row' data-field='{escape(key)}'>{escape(key)}</th><td>{escape(value)}</td></tr>"
        for key, value in rows
    )
    light_html = (
        f"<div class='fp-light' data-light='{light}'><span style='color:{LIGHT_COLORS[light]};font-size:1.6em'>●</span>"
        f" Freshness: <b>{light}</b> (yellow after {thresholds.yellow_after_hours:g} h, red after "
        f"{thresholds.red_after_hours:g} h)</div>"
    )
    errors = ""
    if status is not None and status.errors:
        items = "".join(
            f"<li>{escape(error.kind)}: {escape(error.message)}"
            f"{' (' + escape(error.source_id) + ')' if error.source_id else ''}</li>"
            for error in status.errors[:50]
        )
        errors = f"<h2>Errors of the last run</h2><ul class='fp-errors'>{items}</ul>"
    parts: list[object] = [
        pn.pane.HTML(light_html, sizing_mode="stretch_width"),
        pn.pane.HTML(f"<table class='fp-status'>{table}</table>{errors}", sizing_mode="stretch_width"),
    ]
    parts.append(pn.pane.HTML(source_table(datastore), sizing_mode="stretch_width", stylesheets=[TABLE_CSS]))
    history = datastore.inventory_history()
    if history:
        parts.append(pn.pane.Bokeh(storage_trend(history), sizing_mode="stretch_width", min_height=240))
    else:
        parts.append(pn.pane.HTML("<p><i>No inventory history yet.</i></p>"))
    return pn.Column(*parts, sizing_mode="stretch_width", css_classes=["fp-status-tab"])


TABLE_CSS = """h2 { font-size: 1.1em; } table { border-collapse: collapse; }
th, td { text-align: left; padding: 2px 10px 2px 0; } th { font-weight: 600; }"""


def source_table(datastore: DataStore, now: datetime | None = None) -> str:
    """Per source of the published run: newest init, its age, partial or complete, last error."""
    manifest = datastore.manifest()
    status = datastore.extraction_status()
    if manifest is None:
        return "<p><i>No run published yet.</i></p>"
    rows = []
    for info in manifest.sources:
        if info.is_partial:
            state = f"partial: {info.ingested_lead_hours or 0:g} of {info.expected_lead_hours or 0:g} h"
        else:
            state = "complete"
        errors = [error for error in (status.errors if status else []) if error.source_id == info.source_id]
        last = f"{errors[-1].kind}: {errors[-1].message}" if errors else "none"
        rows.append(
            f"<tr><th scope='row'>{escape(info.source_id)}</th><td>{info.init_time:%Y-%m-%d %H:%M} UTC</td>"
            f"<td>{escape(age_text(info.init_time, now))}</td><td>{escape(state)}</td><td>{escape(last)}</td></tr>"
        )
    head = "<tr><th scope='col'>Source</th><th scope='col'>Newest init</th><th scope='col'>Age</th>"
    head += "<th scope='col'>Ingested</th><th scope='col'>Last error</th></tr>"
    return f"<h2>Sources</h2><table class='fp-sources'>{head}{''.join(rows)}</table>"


def storage_trend(history: list[InventoryHistoryRow]) -> Any:
    """Stored size over time on a date axis; one inventory reads as one point (the axis spans a
    day either side of it, not Bokeh's millisecond default)."""
    times = np.array([row.timestamp_utc.replace(tzinfo=None) for row in history], dtype="datetime64[ms]")
    sizes = np.array([row.total_size_bytes / 1e6 for row in history])
    pad = max((times.max() - times.min()) * 0.05, np.timedelta64(1, "D"))
    settings: dict[str, Any] = {
        "title": "Storage trend",
        "x_axis_type": "datetime",
        "height": 260,
        "sizing_mode": "stretch_width",
        "x_range": Range1d(start=times.min() - pad, end=times.max() + pad),
        "tools": "save",
        "toolbar_location": None,
    }
    plot: Any = figure(**settings)
    plot.xaxis.formatter = DatetimeTickFormatter(hours="%d %b %H:%M", days="%d %b", months="%b %Y")
    plot.xaxis.axis_label, plot.yaxis.axis_label = "inventory time (UTC)", "MB"
    source = ColumnDataSource({"time": times, "size": sizes})
    plot.line("time", "size", source=source, line_width=2, color="#0072b2")
    points = plot.scatter("time", "size", source=source, size=7, color="#0072b2")
    plot.add_tools(
        HoverTool(
            renderers=[points],
            tooltips=[("time", "@time{%Y-%m-%d %H:%M} UTC"), ("size", "@size{0.0} MB")],
            formatters={"@time": "datetime"},
        )
    )
    return plot
