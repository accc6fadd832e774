"""Text summaries of the meteogram for screen readers (pure): per local day, the median and the
range (min to max over the members) of each source's daily value."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecast_panel.daily import DailyValues, Statistic
from forecast_panel.frames import SourceSeries, ingested_mask, rows

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


def source_notes(series: Sequence[SourceSeries], unreadable: set[str]) -> list[str]:
    """One line per source that has something to say: its own note (the consensus's sources),
    a store it could not read, no data, no data at the point's cell, or a partial init."""
    notes: list[str] = []
    seen: set[str] = set()
    for item in series:
        if item.source_id in seen:
            continue
        seen.add(item.source_id)
        if item.note:
            notes.append(item.note)
        if item.source_id in unreadable:
            notes.append(f"{item.label}: the forecast store cannot be read right now; try again shortly")
        elif not rows(item.summary):
            notes.append(f"{item.label}: no data for this selection")
        elif np.isnan(item.summary["median"]).all():
            notes.append(f"{item.label}: no data at this point's grid cell")
        elif not ingested_mask(item.summary, item.ingested_lead_hours).all():
            notes.append(f"{item.label}: the shaded leads are not ingested yet (partial init)")
    return notes
