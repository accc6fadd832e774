"""Per-step rollups: count, ok, failed, p50/p95 latency and throughput; CSV rows of them."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

from forecast_smoke.models import Rollup, Step

CSV_COLUMNS: tuple[str, ...] = tuple(Rollup.model_fields)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear-interpolated percentile (numpy's default method); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def make_rollup(step: Step, durations: Sequence[float], ok: int, total_bytes: int, wall_seconds: float) -> Rollup:
    """Rollup of one step: ``durations`` per item (all items), ``ok`` of them succeeded."""
    count = len(durations)
    wall = max(wall_seconds, 0.0)
    return Rollup(
        step=step,
        count=count,
        ok=ok,
        failed=count - ok,
        p50_seconds=percentile(durations, 0.50),
        p95_seconds=percentile(durations, 0.95),
        wall_seconds=wall,
        bytes=total_bytes,
        items_per_second=count / wall if wall > 0 else 0.0,
        bytes_per_second=total_bytes / wall if wall > 0 else 0.0,
    )


def append_csv(path: Path, rollup: Rollup, run_id: str | None = None) -> None:
    """Append ``rollup`` as a row of the CSV at ``path`` (header written when the file is new).

    Columns: ``run_id`` then the Rollup fields in model order; None is an empty cell.
    """
    new = not path.exists() or path.stat().st_size == 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(["run_id", *CSV_COLUMNS])
        row = rollup.model_dump(mode="json")
        writer.writerow([run_id or "", *("" if row[name] is None else row[name] for name in CSV_COLUMNS)])
