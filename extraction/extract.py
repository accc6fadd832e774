"""The middle of a run: plan each source, read its tiles on Dask, and build its artifacts.

``plan_sources`` works on metadata and coordinates only; ``extract`` runs the tile jobs and
turns their results into tables. A full or backfill run encodes and writes each artifact as
soon as it is built (content-addressed: nothing listed is touched); a ``--points`` run keeps its
points' small tables, to merge them into whichever run is in force when it commits
(``extraction.compose``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from extraction.compose import Extracted, RunKind
from extraction.parquet_files import parquet_bytes
from extraction.plan import NoInitWithData
from extraction.publish import ArtifactWriter, PendingArtifact
from extraction.selection import RunFailed, Selection
from extraction.source_run import LimitExceeded, SourcePlan, assemble_source, plan_source, region_coordinates
from extraction.sources import SourceUnavailable
from extraction.tiles import TileResult
from forecast_core.layout import ArtifactKind
from forecast_core.registry import MapSummarySettings, SourceEntry
from forecast_core.status import ExtractionError, RunManifest


@dataclass(frozen=True, slots=True)
class InitRequest:
    """Which init a run extracts: a pinned one, or the newest passing over ``skip_newest``."""

    pinned: datetime | None = None
    skip_newest: int = 0


def plan_sources(
    chosen: Selection, settings: MapSummarySettings, kind: RunKind, request: InitRequest, base: RunManifest | None
) -> tuple[list[SourcePlan], list[ExtractionError]]:
    """A plan per selected source (planned concurrently: each waits on a few round trips), and an
    error for each source that cannot be planned, in the selection's order.

    A ``--points`` run pins each source to the init its base lists (falling back to the newest
    when that init is gone), so its rows merge into the published artifacts."""
    with ThreadPoolExecutor(max_workers=max(1, len(chosen.sources))) as pool:
        planned = [pool.submit(_plan_one, source, chosen, settings, kind, request, base) for source in chosen.sources]
    plans: list[SourcePlan] = []
    errors: list[ExtractionError] = []
    for future in planned:
        plan, problems = future.result()
        errors += problems
        if plan is not None:
            plans.append(plan)
    return plans, errors


def _plan_one(
    source: SourceEntry,
    chosen: Selection,
    settings: MapSummarySettings,
    kind: RunKind,
    request: InitRequest,
    base: RunManifest | None,
) -> tuple[SourcePlan | None, list[ExtractionError]]:
    pinned = request.pinned
    if kind == "points" and base is not None:
        info = next((i for i in base.sources if i.source_id == source.source_id), None)
        pinned = info.init_time if info else None
    try:
        try:
            plan = plan_source(source, chosen.variables, chosen.wanted, chosen.selected, chosen.enabled,
                               settings, pinned, request.skip_newest)  # fmt: skip
        except NoInitWithData:
            if pinned is None or kind != "points":
                raise
            plan = plan_source(source, chosen.variables, chosen.wanted, chosen.selected, chosen.enabled, settings)
    except (SourceUnavailable, NoInitWithData) as error:
        unreachable = ExtractionError(kind="store_unreachable", message=str(error), source_id=source.source_id)
        return None, [unreachable]
    except LimitExceeded as error:
        raise RunFailed("limit_exceeded", str(error)) from error
    return plan, plan.errors


def build_artifacts(
    plans: list[SourcePlan],
    outcomes: Iterable[list[TileResult | BaseException]],
    chosen: Selection,
    kind: RunKind,
    writer: ArtifactWriter,
) -> tuple[Extracted, list[ExtractionError]]:
    """Assemble every planned source's tile outcomes (in plan order, as they arrive) into
    tables; write them (full, backfill) or keep them (points). A source with a failed tile
    contributes nothing and is recorded as an error."""
    extracted = Extracted(kind, [], {}, {p.point_id: p for p in chosen.selected})
    errors: list[ExtractionError] = []
    encoded: list[Future[None]] = []
    # Parquet encoding releases the GIL: two threads encode one variable's tables while the
    # next variable is assembled.
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        for plan, results in zip(plans, outcomes, strict=True):
            source_id = plan.source.source_id
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                message = f"{len(failures)} of {len(results)} chunk tiles failed: {failures[0]}"
                errors.append(ExtractionError(kind="store_unreachable", source_id=source_id, message=message))
                continue
            tiles = [r for r in results if isinstance(r, TileResult)]
            for built in assemble_source(plan, tiles, region_coordinates(plan)):
                errors += built.errors
                for artifact_kind, table in built.tables.items():
                    if kind == "points":
                        extracted.tables[(source_id, built.variable_id, artifact_kind)] = table
                    else:
                        encoded.append(pool.submit(_encode, writer, plan, built.variable_id, artifact_kind, table))
            extracted.infos.append(plan.run_info())
            extracted.point_ids[source_id] = {m.point.point_id for m in plan.mapped}
        for future in encoded:
            future.result()
    extracted.written = writer.written()
    return extracted, errors


def _encode(writer: ArtifactWriter, plan: SourcePlan, variable_id: str, kind: ArtifactKind, table: pa.Table) -> None:
    init_date = plan.init.init_time.date()
    data = parquet_bytes(table, kind)
    writer.put(PendingArtifact(plan.source.source_id, variable_id, init_date, kind, data, table.num_rows))
