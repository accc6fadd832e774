"""One extraction run: plan → extract → commit, then the status and the run's log.

``run_extraction`` never raises for a failure of one source, variable or point: it records it in
``extraction_status.errors`` and completes the rest. It fails as a whole (outcome ``failed``)
only when the config cannot be read, a configured bound is exceeded, or nothing was extracted.
Publishing follows ``extraction.publish``; what a run lists on the run in force follows
``extraction.compose``. A run stopped by a signal before its commit leaves the run in force
and re-raises ``TerminationRequested`` (``extraction.termination``).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from extraction import termination
from extraction.compose import Extracted, Restart, RunKind, Superseded, compose
from extraction.executor import dask_client, execute_groups, resolve_scheduler
from extraction.extract import InitRequest, build_artifacts, plan_sources
from extraction.progress import TileProgress
from extraction.publish import ArtifactWriter, RunLog, archive, cleanup, commit
from extraction.selection import RunFailed, Selection, load_config, point_set_hash, select
from extraction.source_run import SourcePlan
from forecast_core.base import utc_now
from forecast_core.layout import EXTRACTION_STATUS_KEY, make_run_id, parse_run_id
from forecast_core.points import Point, PreCannedPoints
from forecast_core.published import read_latest_versioned
from forecast_core.registry import CanonicalVariables, SourceRegistry
from forecast_core.status import ExtractionError, ExtractionStatus, RunManifest, SourceRunInfo
from forecast_core.store import ArtifactStore, StoreError, Versioned

RunOutcome = Literal["success", "partial", "failed", "skipped"]
log = logging.getLogger(__name__)
RESTARTS = 2  # extractions started over because the run in force moved to another init
COMMIT_ATTEMPTS = 8  # compare-and-swaps of latest.json lost to other runs before giving up


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
    after_publish: Callable[[ArtifactStore], object] | None = None  # e.g. the alert evaluation

    @property
    def kind(self) -> RunKind:
        if self.init_time is not None or self.inits_back:
            return "backfill"
        return "points" if self.point_ids else "full"


@dataclass(slots=True)
class RunReport:
    """The result of a run."""

    run_id: str
    outcome: RunOutcome
    message: str
    errors: list[ExtractionError] = field(default_factory=list)
    manifest: RunManifest | None = None
    processed: list[SourceRunInfo] = field(default_factory=list)  # sources this run extracted
    duration_seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return {"success": 0, "skipped": 0, "partial": 1, "failed": 2}[self.outcome]


@dataclass(slots=True)
class _Run:
    """One attempt's context: where it started from and what it has recorded."""

    options: RunOptions
    base: tuple[RunManifest, Versioned] | None
    run_id: str
    moment: datetime
    runlog: RunLog
    config: Future[tuple[SourceRegistry, CanonicalVariables, PreCannedPoints]]
    started: float = field(default_factory=time.perf_counter)
    errors: list[ExtractionError] = field(default_factory=list)
    clock: dict[str, float] = field(default_factory=dict)
    after: Future[object] | None = None  # the step after the publish, started once committed

    @property
    def previous(self) -> RunManifest | None:
        return self.base[0] if self.base else None


def run_extraction(options: RunOptions) -> RunReport:
    """Do one run and publish it (or record why not); see the module docstring."""
    for attempt in range(RESTARTS + 1):
        run = _start(options)
        try:
            report = _attempt(run, may_restart=attempt < RESTARTS)
        except Restart as restart:
            log.info("%s; extracting again", restart)
            continue
        except termination.TerminationRequested as stop:
            message = f"{stop} before publishing; the previous run stays in force"
            _finish(run, RunReport(run.run_id, "failed", message, [*run.errors, _error("interrupted", message)]))
            raise
        if run.after is not None:
            with termination.critical():  # the run is complete; let the step after it finish too
                run.after.result()
        return report
    raise AssertionError("unreachable: the last attempt does not restart")


def _start(options: RunOptions) -> _Run:
    """The attempt's context: the run in force, read while the config is (one round trip for both)."""
    config = _in_background(load_config, options.store, options.registry)
    base = read_latest_versioned(options.store)
    moment = _after(base[0] if base else None, utc_now())
    run_id = make_run_id(moment)
    return _Run(options, base, run_id, moment, RunLog(run_id), config)


def _in_background[T](work: Callable[..., T], *args: Any) -> Future[T]:
    """``work(*args)`` started on a thread of its own (which ends with it); its outcome is the future's."""
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(work, *args)
    pool.shutdown(wait=False)
    return future


def _after(previous: RunManifest | None, moment: datetime) -> datetime:
    """``moment``, or one second after the previous run's id: run ids increase strictly."""
    if previous is not None and parse_run_id(previous.run_id) >= moment:
        return parse_run_id(previous.run_id) + timedelta(seconds=1)
    return moment


def _attempt(run: _Run, may_restart: bool) -> RunReport:
    options = run.options
    try:
        run.clock["start"] = time.perf_counter()
        registry, variables, points = run.config.result()
        chosen = select(registry, variables, points, options)
        run.runlog.event("start", sources=[s.source_id for s in chosen.sources], variables=sorted(chosen.wanted),
                         points=len(chosen.selected), kind=options.kind)  # fmt: skip
        request = InitRequest(options.init_time, options.inits_back)
        plans, errors = plan_sources(chosen, registry.map_summary, options.kind, request, run.previous)
        run.errors += errors
        run.clock["planned"] = time.perf_counter()
        for plan in plans:
            run.runlog.event("planned", source=plan.source.source_id, init=plan.init.init_time,
                             partial=plan.init.is_partial, snapshot=plan.snapshot_id, tiles=len(plan.jobs),
                             points=len(plan.mapped))  # fmt: skip
        if options.kind == "full" and not options.force and _nothing_new(run.previous, plans, chosen.enabled):
            message = "skipped: no source's newest init advanced and the point set did not change (use --force)"
            return _finish(run, RunReport(run.run_id, "skipped", message, run.errors))
        extracted = _extract(run, plans, chosen)
        if extracted.empty:
            return _finish(run, RunReport(run.run_id, "failed", "nothing extracted", run.errors))
        with termination.critical():
            return _publish(run, extracted, {p.point_id: p for p in chosen.enabled})
    except RunFailed as failure:
        run.errors.append(_error(failure.kind, str(failure)))
        return _finish(run, RunReport(run.run_id, "failed", str(failure), run.errors))
    except Superseded as stale:
        return _finish(run, RunReport(run.run_id, "skipped", f"skipped: {stale}", run.errors))
    except Restart as restart:
        if may_restart:
            raise
        message = f"nothing published: {restart}, again; the run in force stays"
        return _finish(run, RunReport(run.run_id, "failed", message, [*run.errors, _error("internal", message)]))


def _extract(run: _Run, plans: list[SourcePlan], chosen: Selection) -> Extracted:
    """Read every planned source's tiles and build (and, but in a --points run, write) its
    artifacts."""
    options = run.options
    given = contextlib.nullcontext(options.client) if options.client is not None else None
    progress = TileProgress([plan.source.source_id for plan in plans], [len(plan.jobs) for plan in plans],
                            options.progress)  # fmt: skip
    with (
        ArtifactWriter(options.store) as writer,
        given or dask_client(resolve_scheduler(options.scheduler)) as client,
    ):
        run.clock["cluster_ready"] = time.perf_counter()
        outcomes = execute_groups([plan.jobs for plan in plans], client, progress)
        extracted, errors = build_artifacts(plans, outcomes, chosen, options.kind, writer)
    run.clock["read_and_built"] = time.perf_counter()
    run.errors += errors
    return extracted


def _publish(run: _Run, extracted: Extracted, current: dict[str, Point]) -> RunReport:
    """Compose the manifest on the run in force and swap it in; on a lost swap, compose again
    on the run that won. Then archive it and clean up."""
    store, base = run.options.store, run.base
    for attempt in range(COMMIT_ATTEMPTS):
        previous = base[0] if base else None
        manifest = compose(store, extracted, previous, current, run_id=run.run_id, created=run.moment)
        if commit(store, manifest, base[1].version if base else None):
            return _committed(run, manifest, extracted)
        base = read_latest_versioned(store)
        run.run_id = make_run_id(_after(base[0] if base else None, run.moment))
        run.runlog.run_id = run.run_id
        current = _enabled_now(store, run.options.registry)
        run.runlog.event("rebase", on=base[0].run_id if base else None, attempt=attempt + 1)
        time.sleep(random.uniform(0, 0.05 * 2**attempt))  # noqa: S311 (jitter, not crypto)
    raise RunFailed("internal", f"latest.json kept changing: {COMMIT_ATTEMPTS} commits lost to other runs")


def _committed(run: _Run, manifest: RunManifest, extracted: Extracted) -> RunReport:
    """After the commit: the archive copy, the cleanup and the step after the publish (alerts)
    run concurrently — none of them changes what the others read (cleanup keeps everything
    latest.json lists) — then the status and the run's log."""
    store = run.options.store
    cleaning = _in_background(cleanup, store)
    if run.options.after_publish is not None:
        run.after = _in_background(run.options.after_publish, store)
    archive(store, manifest)
    run.clock["published"] = time.perf_counter()
    steps = list(run.clock.items())
    seconds = {name: round(end - begin, 3) for (_, begin), (name, end) in itertools.pairwise(steps)}
    run.runlog.event("published", artifacts=len(manifest.artifacts), seconds=seconds)
    try:
        removed = cleaning.result()
        run.runlog.event("cleanup", deleted=removed.deleted, kept_unlisted=removed.kept_unlisted)
    except StoreError as error:
        log.warning("cleanup failed (the next run retries): %s", error)
    outcome: RunOutcome = "partial" if run.errors else "success"
    new = len({item.key for item in manifest.artifacts} - _listed(run.previous))
    report = RunReport(run.run_id, outcome, f"published {new} new artifacts", run.errors, manifest, extracted.infos)
    return _finish(run, report)


def _listed(manifest: RunManifest | None) -> set[str]:
    return {item.key for item in manifest.artifacts} if manifest else set()


def _enabled_now(store: ArtifactStore, registry: SourceRegistry | None) -> dict[str, Point]:
    """The enabled points as the store's config holds them now."""
    _, _, points = load_config(store, registry)
    return {point.point_id: point for point in points.enabled_points()}


def _nothing_new(previous: RunManifest | None, plans: list[SourcePlan], enabled: list[Point]) -> bool:
    if previous is None or previous.point_set_hash != point_set_hash(enabled) or not plans:
        return False
    before = {info.source_id: info for info in previous.sources}
    for plan in plans:
        info = before.get(plan.source.source_id)
        if info is None or info.init_time != plan.init.init_time or info.is_partial != plan.init.is_partial:
            return False
        if info.ingested_lead_hours != plan.init.ingested_lead_hours:
            return False
    return True


def _error(kind: str, message: str) -> ExtractionError:
    return ExtractionError.model_validate({"kind": kind, "message": message})


def _finish(run: _Run, report: RunReport) -> RunReport:
    """Write the status and the run's log, emit metrics; a run that published nothing leaves
    the published run's figures standing."""
    from extraction.metrics import emit_run_metrics

    store = run.options.store
    report.duration_seconds = time.perf_counter() - run.started
    before = _read_status(store)
    published = report.manifest is not None
    manifest = report.manifest or run.previous
    infos = report.processed
    keep_before = before is not None and not published
    last_success = before.last_successful_extract_utc if before else None
    status = ExtractionStatus(
        last_successful_extract_utc=run.moment if published else last_success,
        run_id=manifest.run_id if manifest else None,
        sources_processed=before.sources_processed if keep_before and before else sorted(i.source_id for i in infos),
        variables_processed=(
            before.variables_processed if keep_before and before else sorted({v for i in infos for v in i.variables})
        ),
        errors=report.errors,
        outcome=report.outcome,
        message=report.message,
        last_attempt_utc=datetime.now(UTC).replace(microsecond=0),
    )
    try:
        store.write_model(EXTRACTION_STATUS_KEY, status)
    except StoreError as error:
        report.errors.append(_error("write_failed", f"status: {error}"))
    problems = [problem.model_dump() for problem in report.errors]
    seconds = round(report.duration_seconds, 3)
    run.runlog.event("finished", outcome=report.outcome, message=report.message, errors=problems, seconds=seconds)
    run.runlog.write(store)
    emit_run_metrics(report, manifest)
    return report


def _read_status(store: ArtifactStore) -> ExtractionStatus | None:
    try:
        return store.read_model(EXTRACTION_STATUS_KEY, ExtractionStatus)
    except StoreError:
        return None
