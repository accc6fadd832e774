"""Text summaries of the meteogram for screen readers (pure): per local day, the median and the
range (min to max over the members) of each source's daily value."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecast_panel.daily import DailyValues, Statistic
from forecast_panel.frames import SourceSeries

WORDS: dict[str, str] = {"max": "high", "min": "low", "sum": "total", "last": "total so far"}


def _number(value: float) -> str:
    return f"{value:.1f}".replace("-", "−")


def panel_summary(
    series: Sequence[SourceSeries], daily: Sequence[Sequence[DailyValues]], statistics: Sequence[Statistic], unit: str
) -> list[str]:
    """One line per local day: '<day>: <source> <high> median M U (range A to B U); …'."""
    by_day: dict[np.datetime64, list[str]] = {}
    for item, values in zip(series, daily, strict=True):
        for statistic, day_values in zip(statistics, values, strict=True):
            stats = day_values.stats
            for index, day in enumerate(day_values.days):
                if stats["member_count"][index] == 0:
                    continue
                word = WORDS.get(statistic, statistic)
                by_day.setdefault(day, []).append(
                    f"{item.label} {word}: median {_number(stats['median'][index])} {unit} (range "
                    f"{_number(stats['min'][index])} to {_number(stats['max'][index])} {unit})"
                )
    return [f"{pd.Timestamp(day):%a %d %b}: " + "; ".join(parts) for day, parts in sorted(by_day.items())]
