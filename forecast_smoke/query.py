"""``smoke zarr-query``: N point-trace queries against a registry's sources, one JSON each.

A query is one point's nearest grid cell, the newest init, every member × lead of one variable,
read with ``.isel(...).load()`` on the dataset ``extraction.sources.open_source`` returns (no
Dask). The cell is ``forecast_core.grid.nearest_cell`` on the store's own coordinates, the rule
the extraction and the app use (equal to xarray's ``sel(method="nearest")``). It smoke-tests the
store path, not the optimised extraction pipeline.

Query ``i`` (1-based) goes to enabled source ``(i - 1) mod S`` and point ``i - 1`` of the point
list; it is written as ``Q{i:02d}_{source_id}.json``. Points come from a PreCannedPoints file
(enabled points, cycled) or are drawn uniformly at random inside a bounding box.
"""

from __future__ import annotations

import logging
import math
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from forecast_core.base import utc_now
from forecast_core.grid import GridSpec, IrregularGrid, LatLonBox, nearest_cell
from forecast_core.points import PreCannedPoints
from forecast_core.registry import SourceEntry, SourceRegistry
from forecast_core.store import ArtifactStore
from forecast_smoke.models import QueryMetrics, QueryResult, QueryStatus, QuerySummary, QuerySummaryItem, RequestedPoint
from forecast_smoke.retry import RetryPolicy, call_with_retry
from forecast_smoke.rollup import make_rollup
from forecast_smoke.schemas import write_output

log = logging.getLogger(__name__)

DEFAULT_VARIABLE: Final = "temperature_2m"
SAMPLE_BBOX: Final = (39.0, 40.5, -107.0, -105.0)
"""Default box for random points: the tiny sample region, which every sample size covers (the
demo region contains it) and which real, global stores cover too."""
SUMMARY_FILE: Final = "summary.json"


def read_location(location: str) -> bytes:
    """Bytes of a local file or an ``s3://bucket/key`` object (endpoint from the environment)."""
    if location.startswith("s3://"):
        parent, _, name = location.rstrip("/").rpartition("/")
        return ArtifactStore(parent).read_bytes(name)
    return Path(location).read_bytes()


def load_registry(location: str) -> SourceRegistry:
    """A SourceRegistry from a local file or an ``s3://bucket/key`` object."""
    return SourceRegistry.model_validate_json(read_location(location))


def points_from_file(location: str) -> list[RequestedPoint]:
    """The enabled points of a PreCannedPoints file (local path or ``s3://bucket/key``)."""
    document = PreCannedPoints.model_validate_json(read_location(location))
    return [
        RequestedPoint(
            latitude=point.latitude, longitude=point.longitude, point_id=point.point_id, point_name=point.point_name
        )
        for point in document.enabled_points()
    ]


def random_points(count: int, bbox: LatLonBox, seed: int | None) -> list[RequestedPoint]:
    """``count`` points uniform in ``bbox`` (4 decimals), reproducible for a given ``seed``."""
    rng = random.Random(seed)  # noqa: S311 (sampling, not security)
    return [
        RequestedPoint(
            latitude=round(rng.uniform(bbox.south, bbox.north), 4),
            longitude=round(rng.uniform(bbox.west, bbox.east), 4),
        )
        for _ in range(count)
    ]


def _to_utc(value: Any) -> datetime:
    import pandas as pd

    stamp = pd.Timestamp(value)
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).to_pydatetime()


def dataset_grid(dataset: Any) -> GridSpec:
    """The GridSpec of an open dataset's latitude/longitude coordinates (IrregularGrid if none fits)."""
    return GridSpec.from_coordinates(dataset["latitude"].values.tolist(), dataset["longitude"].values.tolist())


def open_for_queries(source: SourceEntry, policy: RetryPolicy, opener: Any) -> tuple[Any, GridSpec] | BaseException:
    """The opened dataset and its grid, or the exception that stopped either (returned, not raised:
    every query of that source records it)."""
    dataset = open_with_retry(source, policy, opener)
    if isinstance(dataset, BaseException):
        return dataset
    try:
        return dataset, dataset_grid(dataset)
    except IrregularGrid as error:
        return error


def query_point(
    dataset: Any,
    grid: GridSpec,
    source: SourceEntry,
    variable: str,
    point: RequestedPoint,
    query_id: str,
    policy: RetryPolicy,
) -> QueryResult:
    """Read one trace from an open dataset on ``grid``; failures become a ``failed`` result, never raise."""
    import numpy as np

    started_utc, started = utc_now(), time.perf_counter()
    base: dict[str, Any] = {
        "query_id": query_id,
        "source_id": source.source_id,
        "dataset_id": source.dataset_id,
        "variable": variable,
        "requested": point,
        "started_utc": started_utc,
    }
    attempts = 1
    try:
        array = dataset[variable]
        init = array["init_time"].values.max()
        cell = nearest_cell(grid, point.latitude, point.longitude)
        selected = array.sel(init_time=init).isel(latitude=cell.latitude_index, longitude=cell.longitude_index)
        selected = selected.transpose("ensemble_member", "lead_time")
        loaded, attempts = call_with_retry(selected.load, policy, f"{query_id} {source.source_id}")
        values = np.asarray(loaded.values, dtype=np.float64)
        duration = time.perf_counter() - started
        finite = bool(np.isfinite(values).any())
        lead_hours = (loaded["lead_time"].values / np.timedelta64(1, "h")).astype(float).tolist()
        valid = [_to_utc(init + lead) for lead in loaded["lead_time"].values]
        status: QueryStatus = "ok" if finite else "empty"
        return QueryResult(
            **base,
            units=str(array.attrs["units"]) if "units" in array.attrs else None,
            grid_latitude=float(loaded["latitude"].values),
            grid_longitude=float(loaded["longitude"].values),
            init_time=_to_utc(init),
            members=[int(member) for member in loaded["ensemble_member"].values],
            lead_hours=lead_hours,
            valid_times=valid,
            values=[[None if not math.isfinite(v) else round(v, 4) for v in row] for row in values.tolist()],
            metrics=QueryMetrics(
                duration_seconds=duration,
                elements=int(loaded.size),
                estimated_bytes=int(loaded.nbytes),
                status=status,
                error=None if finite else "every value is missing at this point",
                attempts=attempts,
            ),
        )
    except Exception as error:  # noqa: BLE001 (a smoke test records every failure and carries on)
        return failed_result(base, time.perf_counter() - started, error, attempts)


def failed_result(base: dict[str, Any], duration: float, error: BaseException, attempts: int = 1) -> QueryResult:
    """A ``failed`` QueryResult with an empty payload."""
    message = f"{type(error).__name__}: {error}"
    metrics = QueryMetrics(
        duration_seconds=duration, elements=0, estimated_bytes=0, status="failed", error=message, attempts=attempts
    )
    return QueryResult(**base, metrics=metrics)


def run_queries(
    registry: SourceRegistry,
    registry_label: str,
    output_dir: Path,
    points: list[RequestedPoint],
    *,
    max_queries: int,
    variable: str = DEFAULT_VARIABLE,
    point_mode: str = "random",
    seed: int | None = None,
    policy: RetryPolicy | None = None,
) -> QuerySummary:
    """Run the queries, write each ``Qnn_<source>.json`` and ``summary.json``; return the summary."""
    from extraction.sources import open_source

    policy = policy or RetryPolicy()
    sources = registry.enabled_sources()
    if not sources:
        raise ValueError("the registry has no enabled source")
    if not points:
        raise ValueError("no points to query")
    started_utc, started = utc_now(), time.perf_counter()
    opened: dict[str, tuple[Any, GridSpec] | BaseException] = {}
    items: list[QuerySummaryItem] = []
    for index in range(max_queries):
        source = sources[index % len(sources)]
        point = points[index % len(points)]
        query_id = f"Q{index + 1:02d}"
        if source.source_id not in opened:
            opened[source.source_id] = open_for_queries(source, policy, open_source)
        opened_source = opened[source.source_id]
        if isinstance(opened_source, BaseException):
            base = {
                "query_id": query_id,
                "source_id": source.source_id,
                "dataset_id": source.dataset_id,
                "variable": variable,
                "requested": point,
                "started_utc": utc_now(),
            }
            result = failed_result(base, 0.0, opened_source)
        else:
            dataset, grid = opened_source
            result = query_point(dataset, grid, source, variable, point, query_id, policy)
        name = f"{query_id}_{source.source_id}.json"
        write_output("smoke_query", result, output_dir / name)
        m = result.metrics
        log.info(
            "%s source=%s lat=%.4f lon=%.4f status=%s duration=%.3fs elements=%d bytes=%d attempts=%d%s",
            query_id, source.source_id, point.latitude, point.longitude, m.status, m.duration_seconds,
            m.elements, m.estimated_bytes, m.attempts, f" error={m.error}" if m.error else "",
        )  # fmt: skip
        items.append(
            QuerySummaryItem(
                query_id=query_id,
                source_id=source.source_id,
                file=name,
                status=m.status,
                duration_seconds=m.duration_seconds,
                elements=m.elements,
                estimated_bytes=m.estimated_bytes,
                error=m.error,
            )
        )
    rollup = make_rollup(
        "zarr-query",
        [item.duration_seconds for item in items],
        sum(item.status == "ok" for item in items),
        sum(item.estimated_bytes for item in items),
        time.perf_counter() - started,
    )
    summary = QuerySummary(
        registry=registry_label,
        variable=variable,
        point_mode="points-file" if point_mode == "points-file" else "random",
        seed=seed,
        started_utc=started_utc,
        finished_utc=datetime.now(UTC),
        queries=items,
        rollup=rollup,
    )
    write_output("smoke_summary", summary, output_dir / SUMMARY_FILE)
    return summary


def open_with_retry(source: SourceEntry, policy: RetryPolicy, opener: Any) -> Any:
    """``opener(source)`` retried on transient errors: the dataset, or the exception that stopped it
    (returned, not raised: every query of that source records it)."""
    started = time.perf_counter()
    try:
        dataset, attempts = call_with_retry(lambda: opener(source), policy, f"open {source.source_id}")
    except Exception as error:  # noqa: BLE001 (recorded per query)
        log.error("cannot open source %s: %s", source.source_id, error)
        return error
    log.info("opened source %s in %.3fs (%d attempt(s))", source.source_id, time.perf_counter() - started, attempts)
    return dataset
