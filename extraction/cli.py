"""``forecast-panel extract``: one extraction run into an artifact store.

Exit codes: 0 published everything (or skipped: nothing new), 1 published with some errors
recorded in ``extraction_status.errors``, 2 nothing published (config unreadable, a bound
exceeded, every source failed).
"""

from __future__ import annotations

import argparse
import logging
import os
from datetime import UTC, datetime

from forecast_core.init_store import ConfigFileError, load_registry_file
from forecast_core.store import ArtifactStore, StoreError
from forecast_core.store_options import add_store_arguments

log = logging.getLogger(__name__)
SKIP_TEARDOWN = True
"""When ``run`` returns, the run has published (or failed) and written its status and log: the
process may end without the interpreter's teardown (``forecast_cli.main.exit_without_teardown``)."""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    add_store_arguments(parser)
    parser.add_argument("--registry", help="source registry JSON (default: the store's dashboard/config copy)")
    parser.add_argument("--sources", nargs="+", metavar="ID", help="only these source ids")
    parser.add_argument("--variables", nargs="+", metavar="ID", help="only these output variable ids")
    parser.add_argument("--points", nargs="+", metavar="ID", help="only these points, merged into the current run")
    parser.add_argument("--max-points", type=int, help="fail if more points than this would be extracted")
    parser.add_argument(
        "--scheduler",
        help="auto | synchronous | threads | local | a scheduler address (default: DASK_SCHEDULER_ADDRESS, else auto)",
    )
    parser.add_argument("--force", action="store_true", help="run even if no init advanced and points are unchanged")
    parser.add_argument(
        "--init",
        type=_init_choice,
        metavar="DATE|previous",
        help="backfill: extract this init (YYYY-MM-DD for 00 UTC, or an ISO time) or 'previous' "
        "(the one before the newest) instead of the newest; the newest stays the default view",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--no-alerts",
        action="store_true",
        help="do not evaluate alert rules after publishing (also FORECAST_ALERTS=off; "
        "`forecast-panel alerts evaluate` runs them on its own)",
    )


def _init_choice(text: str) -> datetime | str:
    """``previous``, a date (its 00 UTC init) or an ISO datetime (UTC if naive)."""
    if text == "previous":
        return text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not YYYY-MM-DD, an ISO time or 'previous'") from error
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def small_pages_for_numpy() -> None:
    """Ask numpy (before its import; an operator's own setting stands) not to back its large
    arrays with transparent huge pages (``NUMPY_MADVISE_HUGEPAGE``, read at import). A run
    allocates and frees decoded blocks, derived fields and table columns of a few MB each, and
    every such array would fault in and zero whole 2 MB pages afresh; with 4 kB pages the kernel
    zeroes only the pages written. No effect if numpy is already imported (e.g. tests calling
    ``run``). Measured in docs/performance.md (Extraction)."""
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")


def run(args: argparse.Namespace) -> int:
    small_pages_for_numpy()
    from extraction.pipeline import RunOptions, run_extraction
    from extraction.termination import TerminationRequested, stop_on_sigterm
    from forecast_alerts.cli import alerts_enabled, evaluate_after_publish

    try:
        registry = load_registry_file(args.registry) if args.registry else None
        store = ArtifactStore(args.store, endpoint_url=args.endpoint_url)
    except (ConfigFileError, StoreError) as error:
        log.error("%s", error)
        return 2
    options = RunOptions(
        store=store,
        registry=registry,
        sources=args.sources,
        variables=args.variables,
        point_ids=args.points,
        max_points=args.max_points,
        scheduler=args.scheduler,
        force=args.force,
        progress=False if args.no_progress else None,
        init_time=args.init if isinstance(args.init, datetime) else None,
        inits_back=1 if args.init == "previous" else 0,
        after_publish=None if args.no_alerts or not alerts_enabled() else evaluate_after_publish,
    )
    try:
        with stop_on_sigterm():
            report = run_extraction(options)
    except TerminationRequested as stop:
        log.warning("%s before publishing: the previous run stays in force", stop)
        return stop.exit_code
    for problem in report.errors:
        log.warning("%s: %s", problem.kind, problem.message)
    log.info("run %s: %s (%s) in %.1f s", report.run_id, report.outcome, report.message, report.duration_seconds)
    return report.exit_code
