"""Where per-step boxes give way to daily boxes (pure).

``boxes='auto'`` draws per-step boxes for the part of the horizon where a step's box (one per
source, side by side in 80 % of the step) is at least ``MIN_BOX_PX`` wide on the plot as first
shown (the whole horizon across the browser's width), and daily boxes from the next local
midnight on. Narrow screens (≤ ``NARROW_PX``) get daily boxes throughout.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from forecast_panel.frames import SourceSeries, naive_utc, rows
from forecast_panel.localtime import wall_times

MIN_BOX_PX = 4.0
NARROW_PX = 600
PLOT_MARGIN_PX = 120  # axis labels, padding and the sidebar's share are not plot width


def split_time(series: Sequence[SourceSeries], zone: str, boxes: str, viewport_width: int) -> np.datetime64 | None:
    """The wall time from which boxes are daily; None for per-step boxes throughout."""
    times = [wall_times(naive_utc(item.summary["valid_time"]), zone) for item in series if rows(item.summary)]
    times = [np.unique(item) for item in times if item.size > 1]
    if boxes == "steps" or not times:
        return None
    start = min(item[0] for item in times)
    if boxes == "daily" or viewport_width <= NARROW_PX:
        return start
    horizon = max(item[-1] for item in times) - start
    px_per_ns = max(viewport_width - PLOT_MARGIN_PX, 100) / (horizon / np.timedelta64(1, "ns"))
    sources = max(len({item.source_id for item in series}), 1)
    thin = []
    for item in times:
        steps = np.diff(item) / np.timedelta64(1, "ns")
        width = steps * px_per_ns * 0.8 / sources
        too_thin = np.nonzero(width < MIN_BOX_PX)[0]
        if too_thin.size:
            thin.append(item[too_thin[0]])
    if not thin:
        return None
    first = min(thin)
    midnight = first.astype("datetime64[D]").astype("datetime64[ns]")
    return max(midnight, start)
