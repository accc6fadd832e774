"""One extraction run: config → plan per source → tile jobs on Dask → artifacts → publish.

``run_extraction`` never raises for a failure of one source, variable or point: it records it in
``extraction_status.errors`` and completes the rest. It fails as a whole (outcome ``failed``)
only when the config cannot be read or a configured bound is exceeded. See
``extraction.publish`` for the publish protocol.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from extraction.executor import dask_client, execute_groups, resolve_scheduler
from extraction.plan import NoInitWithData
from extraction.publish import (
    ArtifactWriter,
    PendingArtifact,
    RunLog,
    carried_forward,
    publish,
    read_artifact,
    read_status,
)
from extraction.selection import RunFailed, load_config, point_set_hash, select
from extraction.source_run import LimitExceeded, SourcePlan, assemble_source, plan_source, region_coordinates
from extraction.sources import SourceUnavailable
from extraction.tables import merge_points, parquet_bytes
from extraction.tiles import TileResult
from forecast_core.base import utc_now
from forecast_core.layout import (
    EXTRACTION_STATUS_KEY,
    LATEST_MANIFEST_KEY,
    ArtifactKind,
    artifact_key,
    make_run_id,
    parse_run_id,
)
from forecast_core.points import Point
from forecast_core.registry import SourceRegistry
from forecast_core.status import ExtractionError, ExtractionStatus, RunManifest, SourceRunInfo
from forecast_core.store import ArtifactNotFound, ArtifactStore, StoreError, sha256_hex

Outcome = Literal["success", "partial", "failed", "skipped"]
log = logging.getLogger(__name__)


@dataclass(slots=True)
class RunOptions:
    """What ``forecast-panel extract`` was asked to do."""

    store: ArtifactStore
    registry: SourceRegistry | None = None
    sources: Sequence[str] | None = None
    variables: Sequence[str] | None = None
    point_ids: Sequence[str] | None = None
    max_points: int | None = None
    scheduler: str | None = None
    force: bool = False
    progress: bool | None = None
    client: Any = None  # an existing distributed Client (tests); overrides ``scheduler``
    init_time: datetime | None = None  # backfill this init instead of the newest
    inits_back: int = 0  # backfill the init this many before the newest (1 = yesterday's run)


@dataclass(slots=True)
class RunReport:
    """The result of a run."""

    run_id: str
    outcome: Outcome
    message: str
    errors: list[ExtractionError] = field(default_factory=list)
    manifest: RunManifest | None = None
    processed: list[SourceRunInfo] = field(default_factory=list)  # sources this run extracted
    duration_seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return {"success": 0, "skipped": 0, "partial": 1, "failed": 2}[self.outcome]


class Superseded(RuntimeError):
    """Another run published while a --points run was merging into the previous one."""


SUPERSEDED_RETRIES = 2


def run_extraction(options: RunOptions) -> RunReport:
    """Do one run and publish it (or record why not); see the module docstring.

    A ``--points`` run merges into the published run it read at its start. If another run
    publishes before this one writes its data (e.g. two points added seconds apart), the merge
    would drop that run's points, so the run starts over from the new latest.json (up to
    SUPERSEDED_RETRIES times; the last attempt publishes regardless). The check is not atomic:
    a publish inside the few hundred milliseconds of the data writes can still be lost until the
    next full run, whose point-set hash then differs and forces a re-extraction.
    """
    for attempt in range(SUPERSEDED_RETRIES + 1):
        try:
            return _run_once(options, check_superseded=attempt < SUPERSEDED_RETRIES)
        except Superseded as superseded:
            log.info("%s; starting over", superseded)
    raise AssertionError("unreachable: the last attempt does not check")


def _run_once(options: RunOptions, check_superseded: bool) -> RunReport:
    started, moment = time.perf_counter(), utc_now()
    store = options.store
    previous, seen = _read_latest(store)
    if previous is not None and parse_run_id(previous.run_id) >= moment:
        moment = parse_run_id(previous.run_id) + timedelta(seconds=1)  # run ids increase strictly
    run_id = make_run_id(moment)
    runlog = RunLog(run_id)
    errors: list[ExtractionError] = []
    try:
        registry, variables, points = load_config(store, options.registry)
        chosen = select(registry, variables, points, options)
        sources, chosen_vars, wanted, enabled, selected = (
            chosen.sources, chosen.variables, chosen.wanted, chosen.enabled, chosen.selected
        )  # fmt: skip
        runlog.event("start", sources=[s.source_id for s in sources], variables=sorted(wanted), points=len(selected))
        partial_run = bool(options.point_ids)
        backfill = options.init_time or options.inits_back or None  # an explicit init: never skipped
        plans: list[SourcePlan] = []
        clock = {"start": time.perf_counter()}
        for source in sources:
            pinned_init = options.init_time
            if backfill is None and partial_run and previous is not None:
                info = next((i for i in previous.sources if i.source_id == source.source_id), None)
                pinned_init = info.init_time if info else None
            try:
                try:
                    plan = plan_source(
                        source,
                        chosen_vars,
                        wanted,
                        selected,
                        enabled,
                        registry.map_summary,
                        pinned_init,
                        options.inits_back,
                    )
                except NoInitWithData:
                    if pinned_init is None or backfill is not None:
                        raise
                    plan = plan_source(source, chosen_vars, wanted, selected, enabled, registry.map_summary)
            except (SourceUnavailable, NoInitWithData) as error:
                errors.append(
                    ExtractionError(kind="store_unreachable", message=str(error)[:2000], source_id=source.source_id)
                )
                continue
            except LimitExceeded as error:
                raise RunFailed("limit_exceeded", str(error)) from error
            errors += plan.errors
            runlog.event("planned", source=source.source_id, init=plan.init.init_time, partial=plan.init.is_partial,
                         snapshot=plan.snapshot_id, tiles=len(plan.jobs), points=len(plan.mapped))  # fmt: skip
            plans.append(plan)
        hash_now = point_set_hash(enabled)
        if not options.force and not partial_run and not backfill and _nothing_new(previous, plans, hash_now):
            message = "skipped: no source's newest init advanced and the point set did not change (use --force)"
            report = RunReport(run_id, "skipped", message, errors)
            return _finish(options, runlog, report, previous, started, moment)
        tile_count = sum(len(plan.jobs) for plan in plans)
        given = contextlib.nullcontext(options.client) if options.client is not None else None
        current = {p.point_id for p in [*enabled, *selected]}
        # a full run writes each artifact as soon as it is encoded; a --points run holds them
        # until it has checked that it was not superseded (it must not overwrite a newer run's)
        with (
            ArtifactWriter(store, hold=partial_run) as writer,
            given or dask_client(resolve_scheduler(options.scheduler, tile_count)) as client,
        ):
            clock["planned"] = time.perf_counter()
            outcomes = execute_groups([plan.jobs for plan in plans], client, options.progress)
            manifest_sources, new_errors = _build(plans, outcomes, previous, partial_run, store, current, writer)
            clock["read_and_built"] = time.perf_counter()
            errors += new_errors
            if not writer.count:
                report = RunReport(run_id, "failed", "nothing extracted", errors)
                return _finish(options, runlog, report, previous, started, moment)
            if partial_run and check_superseded and _latest_digest(store) != seen:
                raise Superseded("another run published meanwhile")
            written = writer.written()
        covered = _covered_points(previous, selected, enabled, partial_run)
        manifest = RunManifest(
            run_id=run_id,
            created_utc=moment,
            previous_run_id=previous.run_id if previous else None,
            sources=_with_previous_sources(manifest_sources, previous),
            point_ids=sorted(p.point_id for p in covered),
            point_set_hash=point_set_hash(covered),
            artifacts=written + carried_forward(previous, written),
        )
        publish(store, manifest)
        clock["published"] = time.perf_counter()
        steps = list(clock.items())
        seconds = {name: round(end - begin, 3) for (_, begin), (name, end) in itertools.pairwise(steps)}
        runlog.event("published", artifacts=len(manifest.artifacts), seconds=seconds)
        outcome: Outcome = "partial" if errors else "success"
        report = RunReport(run_id, outcome, f"published {len(written)} artifacts", errors, manifest, manifest_sources)
        return _finish(options, runlog, report, previous, started, moment)
    except RunFailed as failure:
        errors.append(ExtractionError(kind=failure.kind, message=str(failure)[:2000]))
        return _finish(options, runlog, RunReport(run_id, "failed", str(failure), errors), previous, started, moment)


def _latest_digest(store: ArtifactStore) -> str | None:
    """sha256 of latest.json's bytes (None before the first run): identifies a publish exactly."""
    try:
        return sha256_hex(store.read_bytes(LATEST_MANIFEST_KEY))
    except ArtifactNotFound:
        return None


def _read_latest(store: ArtifactStore) -> tuple[RunManifest | None, str | None]:
    """The published manifest and the sha256 of the very bytes it was parsed from (one GET, so
    the digest a ``--points`` run later compares against is the manifest it merged into)."""
    try:
        data = store.read_bytes(LATEST_MANIFEST_KEY)
    except ArtifactNotFound:
        return None, None
    return store.decode_model(LATEST_MANIFEST_KEY, data, RunManifest), sha256_hex(data)


def _with_previous_sources(infos: list[SourceRunInfo], previous: RunManifest | None) -> list[SourceRunInfo]:
    """This run's source infos plus the previous run's for sources this run did not publish
    (failed or not selected), whose artifacts are carried forward too; where the previous run
    described a newer init (this run is a backfill), its info stays."""
    before = {info.source_id: info for info in (previous.sources if previous else [])}
    # a backfill of an older init keeps describing the newest init the manifest lists
    merged = [
        before[info.source_id]
        if info.source_id in before and before[info.source_id].init_time > info.init_time
        else info
        for info in infos
    ]
    done = {info.source_id for info in infos}
    kept = [info for source_id, info in before.items() if source_id not in done]
    return sorted([*merged, *kept], key=lambda info: info.source_id)


def _nothing_new(previous: RunManifest | None, plans: list[SourcePlan], point_hash: str) -> bool:
    if previous is None or previous.point_set_hash != point_hash or not plans:
        return False
    before = {info.source_id: info for info in previous.sources}
    for plan in plans:
        info = before.get(plan.source.source_id)
        if info is None or info.init_time != plan.init.init_time or info.is_partial != plan.init.is_partial:
            return False
        if info.ingested_lead_hours != plan.init.ingested_lead_hours:
            return False
    return True


def _covered_points(
    previous: RunManifest | None, selected: list[Point], enabled: list[Point], partial: bool
) -> list[Point]:
    if not partial:
        return enabled
    ids = {p.point_id for p in selected} | set(previous.point_ids if previous else [])
    by_id = {p.point_id: p for p in [*enabled, *selected]}
    return [by_id[i] for i in sorted(ids) if i in by_id]


def _build(
    plans: list[SourcePlan],
    outcomes: Iterable[list[TileResult | BaseException]],
    previous: RunManifest | None,
    partial_run: bool,
    store: ArtifactStore,
    current: set[str],
    writer: ArtifactWriter,
) -> tuple[list[SourceRunInfo], list[ExtractionError]]:
    """Encode the artifacts of every planned source into ``writer``; in a --points run, merged
    with the published ones.

    ``outcomes`` holds each plan's tile outcomes, in plan order; a source is assembled as soon
    as its outcomes arrive and its tables are encoded on threads while the next source's tiles
    are read."""
    encoded: list[Future[None]] = []
    infos: list[SourceRunInfo] = []
    errors: list[ExtractionError] = []
    # Parquet encoding releases the GIL: two threads encode one variable's tables while the
    # next variable is assembled. A source's tables share their id, time, lead and member
    # columns, so a variable waiting to be encoded costs little more than its value column.
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        for plan, results in zip(plans, outcomes, strict=True):
            sid = plan.source.source_id
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                message = f"{len(failures)} of {len(results)} chunk tiles failed: {failures[0]}"
                errors.append(ExtractionError(kind="store_unreachable", source_id=sid, message=message[:2000]))
                continue
            init_date = plan.init.init_time.date()
            tiles = [r for r in results if isinstance(r, TileResult)]
            for built in assemble_source(plan, tiles, region_coordinates(plan)):
                errors += built.errors
                for kind, table in built.tables.items():
                    key = artifact_key(sid, built.variable_id, init_date, kind)
                    try:
                        merged = _merged(store, previous if partial_run else None, plan, built.variable_id, kind,
                                         table, current)  # fmt: skip
                    except StoreError as error:
                        message = f"cannot merge {key}: {error}"[:2000]
                        errors.append(ExtractionError(kind="write_failed", message=message, source_id=sid,
                                                      variable_id=built.variable_id))  # fmt: skip
                        continue
                    encoded.append(pool.submit(_encode, writer, key, merged, kind))
            infos.append(plan.run_info())
        for future in encoded:
            future.result()
    return infos, errors


def _encode(writer: ArtifactWriter, key: str, table: pa.Table, kind: ArtifactKind) -> None:
    writer.put(PendingArtifact(key, parquet_bytes(table, kind), table.num_rows))


def _merged(
    store: ArtifactStore,
    published: RunManifest | None,
    plan: SourcePlan,
    variable_id: str,
    kind: ArtifactKind,
    table: pa.Table,
    current: set[str],
) -> pa.Table:
    """``table`` as it is, or, in a --points run (``published`` given) with an artifact already
    published, merged into it: the plan's points replaced, points no longer current dropped.
    Raises StoreError when the published artifact cannot be read."""
    init_date = plan.init.init_time.date()
    old = published.artifact(plan.source.source_id, variable_id, kind, init_date) if published else None
    if old is None:
        return table
    before = pq.read_table(pa.BufferReader(read_artifact(store, old)))
    if kind == "map_summary":
        return before  # a --points run keeps the published map (the next full run redraws it)
    return merge_points(before, table, kind, {m.point.point_id for m in plan.mapped}, current)


def _finish(options: RunOptions, runlog: RunLog, report: RunReport, previous: RunManifest | None,
            started: float, moment: datetime) -> RunReport:  # fmt: skip
    from extraction.metrics import emit_run_metrics

    store = options.store
    report.duration_seconds = time.perf_counter() - started
    before = read_status(store)
    published = report.manifest is not None
    manifest = report.manifest or previous
    infos = report.processed
    status = ExtractionStatus(
        last_successful_extract_utc=moment if published else (before.last_successful_extract_utc if before else None),
        run_id=manifest.run_id if manifest else None,
        # a run that published nothing (skipped, failed) leaves the published run's figures standing
        sources_processed=sorted(i.source_id for i in infos) if published or not before else before.sources_processed,
        variables_processed=(
            sorted({v for i in infos for v in i.variables}) if published or not before else before.variables_processed
        ),
        errors=report.errors,
        outcome=report.outcome,
        message=report.message[:2000],
        last_attempt_utc=datetime.now(UTC).replace(microsecond=0),
    )
    try:
        store.write_model(EXTRACTION_STATUS_KEY, status)
    except StoreError as error:
        report.errors.append(ExtractionError(kind="write_failed", message=f"status: {error}"[:2000]))
    problems = [problem.model_dump() for problem in report.errors]
    seconds = round(report.duration_seconds, 3)
    runlog.event("finished", outcome=report.outcome, message=report.message, errors=problems, seconds=seconds)
    runlog.write(store)
    emit_run_metrics(report, manifest)
    return report
