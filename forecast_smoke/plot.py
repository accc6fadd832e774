"""``smoke plot``: a PNG of the query traces — members thin, median bold, units and times labelled.

Reads ``Q*.json`` files (validated as QueryResult) from a folder in name order and draws up to
``max_series`` of the successful ones, one panel each, with matplotlib's Agg backend.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

from forecast_smoke.models import QueryResult

log = logging.getLogger(__name__)


class NothingToPlot(ValueError):
    """The folder holds no successful query JSON."""


def load_traces(input_dir: Path, max_series: int) -> list[QueryResult]:
    """Up to ``max_series`` ``ok`` queries from ``input_dir`` (file-name order)."""
    results: list[QueryResult] = []
    for path in sorted(input_dir.glob("Q*.json")):
        result = QueryResult.model_validate_json(path.read_bytes())
        if result.metrics.status == "ok" and result.values:
            results.append(result)
        if len(results) >= max_series:
            break
    return results


def _median(column: list[float | None]) -> float:
    present = sorted(value for value in column if value is not None)
    if not present:
        return math.nan
    middle = len(present) // 2
    return present[middle] if len(present) % 2 else (present[middle - 1] + present[middle]) / 2


def plot_traces(input_dir: Path, output: Path, max_series: int = 6) -> Path:
    """Draw the traces into ``output`` (PNG); NothingToPlot if there are none."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    traces = load_traces(input_dir, max_series)
    if not traces:
        raise NothingToPlot(f"no successful Q*.json query in {input_dir}")
    columns = 2 if len(traces) > 1 else 1
    rows = math.ceil(len(traces) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(7.0 * columns, 3.6 * rows), squeeze=False, sharex=False)
    for axis, trace in zip(axes.flat, traces, strict=False):
        times = [moment.replace(tzinfo=None) for moment in trace.valid_times]
        for member, row in zip(trace.members, trace.values, strict=True):
            series = [math.nan if value is None else value for value in row]
            axis.plot(times, series, color="tab:blue", linewidth=0.7, alpha=0.45, label=None if member else "members")
        medians = [_median(list(column)) for column in zip(*trace.values, strict=True)]
        axis.plot(times, medians, color="black", linewidth=2.2, label="median")
        init = trace.init_time.strftime("%Y-%m-%d %H:%M UTC") if trace.init_time else "?"
        where = f"{trace.grid_latitude:.2f}°, {trace.grid_longitude:.2f}°"
        axis.set_title(f"{trace.query_id} · {trace.source_id} · {where}\ninit {init}", fontsize=10)
        axis.set_ylabel(f"{trace.variable} ({trace.units or 'no units'})", fontsize=9)
        axis.set_xlabel("valid time (UTC)", fontsize=9)
        axis.xaxis.set_major_formatter(mdates.DateFormatter("%d %b\n%H:%M"))
        axis.tick_params(labelsize=8)
        axis.grid(True, alpha=0.3)
        axis.legend(loc="upper right", fontsize=8)
    for axis in list(axes.flat)[len(traces) :]:
        axis.set_visible(False)
    figure.suptitle(f"Smoke query traces ({len(traces)} of max {max_series})", fontsize=12)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110, format="png")
    plt.close(figure)
    log.info("wrote %s with %d trace(s)", output, len(traces))
    return output
