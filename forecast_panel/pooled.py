"""The consensus as one more series of the meteogram (pure: member columns in, a SourceSeries out).

The consensus pools every enabled source's members (``forecast_core.consensus``: each source's
registry weight shared by its members, only the valid times all of them cover), computed here
from the member columns the meteogram reads anyway (measured against an extraction artifact in
``benchmarks/bench_consensus.py``). Its summary is weighted; its member columns carry a
``Weighting`` so that daily boxes and the probability strip weigh them the same way.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

from forecast_core.consensus import (
    MemberSeries,
    Pooled,
    Weighting,
    alignment_of,
    box_statistics,
    consensus_sources,
    member_series,
)
from forecast_core.consensus import pool as pool_members
from forecast_core.registry import CONSENSUS_ID, CanonicalVariable, SourceRegistry
from forecast_panel import frames as fr
from forecast_panel.daily import DailyValues, lighter

LABEL = "Consensus (all sources)"
COLOR = "#4d4d4d"
HOUR = np.timedelta64(1, "h")
Read = Callable[[str], fr.Table]  # source id → that source's member columns of the point
_CACHE: OrderedDict[Hashable, fr.SourceSeries] = OrderedDict()
_LOCK = threading.Lock()
_CACHE_ITEMS = 256


def source_series(read: Read, source_id: str, weight: float) -> MemberSeries | None:
    """One source's members of the point as a ``MemberSeries`` (None without rows)."""
    table = read(source_id)
    if not fr.rows(table):
        return None
    return member_series(source_id, table["valid_time"], table["ensemble_member"], table["value"],
                         table["init_time"][0], weight)  # fmt: skip


def pooled_members(read: Read, sources: Sequence[tuple[str, float]], variable: CanonicalVariable,
                   variable_id: str) -> Pooled:  # fmt: skip
    """The consensus of ``sources`` ((id, weight), in registry order) for one variable."""
    series = [found for source_id, weight in sources if (found := source_series(read, source_id, weight))]
    return pool_members(series, alignment_of(variable, variable_id))


def consensus_series(
    pooled: Pooled, to_display: Callable[[fr.Table, Sequence[str]], fr.Table], note: str = ""
) -> fr.SourceSeries:
    """The meteogram's series of a consensus: weighted box statistics per shared valid time and
    the pooled members (member = column), both converted by ``to_display``."""
    init = pooled.init_time if pooled.init_time is not None else np.datetime64("NaT", "ns")
    times = pooled.valid_times.astype("datetime64[ns]")
    leads = (times - init) / HOUR
    stats = box_statistics(pooled.values, pooled.weights)
    summary: fr.Table = {
        "init_time": np.full(times.size, init, dtype="datetime64[ns]"),
        "valid_time": times,
        "lead_hours": leads.astype("float64"),
        **stats,
    }
    values = pooled.values
    if pooled.window_starts is not None and times.size:  # the first window's start: a step begins there
        start = pooled.window_starts[:1].astype("datetime64[ns]")
        times = np.concatenate([start, times])
        leads = np.concatenate([(start - init) / HOUR, leads])
        values = np.vstack([np.full((1, values.shape[1]), np.nan), values])
    count = values.shape[1] if values.ndim == 2 else 0
    members: fr.Table = {
        "init_time": np.full(times.size * count, init, dtype="datetime64[ns]"),
        "valid_time": np.repeat(times, count),
        "lead_hours": np.repeat(leads, count).astype("float64"),
        "ensemble_member": np.tile(np.arange(count, dtype="float64"), times.size),
        "value": values.ravel().astype("float64"),
    }
    return fr.SourceSeries(
        source_id=CONSENSUS_ID,
        label="Consensus",
        color=COLOR,
        summary=to_display(summary, fr.STAT_COLUMNS) if times.size else {},
        members=to_display(members, ["value"]) if times.size else {},
        weighting=Weighting.of(pooled),
        note=note,
    )


def weighted(daily: DailyValues, weighting: Weighting | None) -> DailyValues:
    """``daily`` with its box statistics weighted (a consensus), or as it is (one source)."""
    if weighting is None or daily.values.size == 0:
        return daily
    return DailyValues(daily.days, daily.noon, daily.values, box_statistics(daily.values, weighting.rows(daily.values)))


def consensus_for(read: Read, datastore: Any, variable_id: str, unit: str, key: Hashable) -> fr.SourceSeries:
    """The consensus series of one variable at the point ``read`` reads, in ``unit``: the run's
    sources that the registry enables, with their weights (``DataStore`` gives run and config).

    Computed once per process for each ``key`` (run, point, variable, init, unit, weights) and
    shared read-only, as the sources' columns are: later interactions (and the daily values and
    wall times derived from its columns, which are remembered per read-only array) reuse it."""
    with _LOCK:
        found = _CACHE.get(key)
        if found is not None:
            _CACHE.move_to_end(key)
            return found
    series = _consensus_for(read, datastore, variable_id, unit)
    for table in (series.summary, series.members or {}):
        for values in table.values():
            values.flags.writeable = False
    with _LOCK:
        _CACHE[key] = series
        while len(_CACHE) > _CACHE_ITEMS:
            _CACHE.popitem(last=False)
    return series


def _consensus_for(read: Read, datastore: Any, variable_id: str, unit: str) -> fr.SourceSeries:
    manifest, registry = datastore.manifest(), datastore.registry()
    variable = datastore.variables().get(variable_id)
    sources = consensus_sources(registry, [info.source_id for info in manifest.sources] if manifest else [])
    found = pooled_members(read, sources, variable, variable_id)
    names = {entry.source_id: fr.short_name(entry.display_name) for entry in registry.sources} if registry else {}

    def convert(table: fr.Table, columns: Sequence[str]) -> fr.Table:
        return fr.to_display(table, variable.native_units, unit, columns)

    return consensus_series(found, convert, holds(found, names))


def holds(found: Pooled, names: dict[str, str]) -> str:
    """What the consensus holds, for the page: its sources and members, their weights, how far it
    reaches and which sources go on alone or are left out."""
    if not found.source_ids:
        return "Consensus: no source has data here"

    def name(source_id: str) -> str:
        return names.get(source_id, source_id)

    members = " + ".join(f"{name(sid)} {found.member_counts.get(sid, 0)}" for sid in found.source_ids)
    if len(set(found.source_weights)) == 1:
        weighting = "equal weight per source"
    else:
        pairs = zip(found.source_ids, found.source_weights, strict=True)
        weighting = "weights " + ", ".join(f"{name(sid)} {weight:g}" for sid, weight in pairs)
    text = f"Consensus: {members} members, {weighting}"
    if found.valid_times.size and found.init_time is not None:
        reach = (found.valid_times[-1] - found.init_time) / HOUR
        text += f"; valid times all of them cover, to {reach:g} h"
    if found.beyond:
        alone = [name(sid) for sid in found.beyond]
        text += f" ({', '.join(alone)} {'goes' if len(alone) == 1 else 'go'} on alone after)"
    if found.left_out:
        text += "; left out: " + ", ".join(f"{name(sid)} ({why})" for sid, why in found.left_out.items())
    return text


def legend(registry: SourceRegistry | None, sources: Sequence[str]) -> list[tuple[str, str]]:
    """Colour index → (short label, colour): each shown source (the consensus too), then each
    source's second statistic in a lighter colour."""
    entries = {entry.source_id: entry for entry in registry.sources} if registry else {}
    first = []
    for source_id in sources:
        entry = entries.get(source_id)
        if entry is not None:
            first.append((fr.short_name(entry.display_name), entry.color))
        else:
            consensus = source_id == CONSENSUS_ID
            first.append(("Consensus" if consensus else source_id, COLOR if consensus else "#0072b2"))
    return first + [(label, lighter(color)) for label, color in first]
