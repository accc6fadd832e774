"""A point's local time: its time zone from its coordinates, and UTC instants as local wall time.

The zone comes from ``timezonefinder`` (exact time-zone polygons shipped in the package, looked up
offline; chosen over ``tzfpy`` for its unsimplified polygons: both answered the same for points
near US zone borders, both cost ~30 MB and 0.2–0.5 s once per process, then microseconds per
lookup). The finder is built once per process (``forecast-panel serve`` builds it at start-up).

Bokeh draws datetime axes from naive values as if they were UTC, so the app shifts each instant
by its zone's offset at that instant (``wall_times``): the axis, the hover and the daily boxes
then read in local time, daylight-saving changes included (the hour a clock repeats or skips is a
one-hour overlap or gap on the axis).
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd

UTC_ZONE = "UTC"


@functools.cache
def _finder() -> Any:
    from timezonefinder import TimezoneFinder

    return TimezoneFinder()


def warm_up() -> None:
    """Build the process's finder now (its polygons load in ~0.5 s), not in a user's session."""
    _finder()


@functools.lru_cache(maxsize=4096)
def zone_at(latitude: float, longitude: float) -> str:
    """The IANA time zone at a point (``Etc/GMT±N`` at sea, from the longitude), never None."""
    found = _finder().timezone_at(lng=float(longitude), lat=float(latitude))
    if found:
        return str(found)
    hours = round(float(longitude) / 15.0)
    return UTC_ZONE if hours == 0 else f"Etc/GMT{-hours:+d}"  # POSIX signs: Etc/GMT+7 is UTC−7


_WALL: OrderedDict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = OrderedDict()
_WALL_LOCK = threading.Lock()
_WALL_ITEMS = 512


def wall_times(times_utc: np.ndarray, zone: str) -> np.ndarray:
    """Naive UTC ``datetime64[ns]`` instants → naive local wall times in ``zone`` (same shape).

    Read-only inputs (the cached columns every session shares) are converted once: the result is
    remembered with the input it came from (holding the input keeps its ``id`` from being reused).
    """
    if zone == UTC_ZONE or len(times_utc) == 0:
        return np.asarray(times_utc, dtype="datetime64[ns]")
    shared = isinstance(times_utc, np.ndarray) and not times_utc.flags.writeable
    key = (zone, id(times_utc))
    if shared:
        with _WALL_LOCK:
            found = _WALL.get(key)
            if found is not None and found[0] is times_utc:
                _WALL.move_to_end(key)
                return found[1]
    index = pd.DatetimeIndex(np.asarray(times_utc, dtype="datetime64[ns]"), tz="UTC")
    wall = np.asarray(index.tz_convert(zone).tz_localize(None).to_numpy(), dtype="datetime64[ns]")
    if shared:
        wall.flags.writeable = False
        with _WALL_LOCK:
            _WALL[key] = (times_utc, wall)
            while len(_WALL) > _WALL_ITEMS:
                _WALL.popitem(last=False)
    return wall


def day_bounds_utc(days: np.ndarray, zone: str) -> tuple[np.ndarray, np.ndarray]:
    """For local dates (``datetime64[D]``): each day's start and end as naive UTC instants
    (23 or 25 hours apart on daylight-saving days)."""
    starts = np.asarray(days, dtype="datetime64[D]").astype("datetime64[ns]")
    ends = starts + np.timedelta64(1, "D")
    if zone == UTC_ZONE or len(starts) == 0:
        return starts, ends

    def to_utc(values: np.ndarray) -> np.ndarray:
        local = pd.DatetimeIndex(values).tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward")
        return np.asarray(local.tz_convert("UTC").tz_localize(None).to_numpy(), dtype="datetime64[ns]")

    return to_utc(starts), to_utc(ends)


def zone_label(zone: str, when: pd.Timestamp | None = None) -> str:
    """'America/Denver (MST, UTC−07:00)' for the header."""
    moment = (when or pd.Timestamp.now(tz="UTC")).tz_convert(zone)
    offset = moment.utcoffset() or pd.Timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    text = f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    abbreviation = moment.tzname()
    if zone == UTC_ZONE:
        return UTC_ZONE
    if abbreviation and not abbreviation.startswith(("+", "-")):
        return f"{zone} ({abbreviation}, {text})"
    return f"{zone} ({text})"
