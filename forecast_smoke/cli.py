"""``forecast-panel smoke {zarr-query,s3-upload,s3-read,plot}``: thin wrappers over the library.

Exit codes: 0 when every item of the step is ``ok``; 1 when any query/object failed or came back
empty; 2 for bad options or input (unreadable registry or points file, nothing to plot).

Common options of the three timed steps: ``--log-file`` (the performance log: one line per item,
appended), ``--rollup-csv`` (append this step's p50/p95/throughput row), ``--emf`` (print an
EMF metric line) and ``--cloudwatch`` (``put_metric_data``), both under ``ForecastPanel/Smoke``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from forecast_smoke.models import Rollup

log = logging.getLogger("forecast_smoke")


def _add_observability(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-file", type=Path, help="performance log (appended; one line per item)")
    parser.add_argument("--rollup-csv", type=Path, help="append this step's rollup row to this CSV")
    parser.add_argument("--run-id", help="label of the run in the rollup CSV (default: $GITHUB_RUN_ID or empty)")
    parser.add_argument("--emf", action="store_true", help="print an EMF metric line (ForecastPanel/Smoke)")
    parser.add_argument("--cloudwatch", action="store_true", help="push the step's metrics with put_metric_data")
    parser.add_argument(
        "--cloudwatch-endpoint-url", help="CloudWatch endpoint (default: boto3's, e.g. AWS_ENDPOINT_URL)"
    )


def _add_s3(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", default="dashboard/test/local_zarr", help="key prefix (default: %(default)s)")
    parser.add_argument("--endpoint-url", help="S3 endpoint (default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL)")
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=5,
        help="tries per S3 request, first included (botocore standard mode; default %(default)s)",
    )


def configure_parser(parser: argparse.ArgumentParser) -> None:
    steps = parser.add_subparsers(dest="smoke_command", metavar="STEP", required=True)

    query = steps.add_parser("zarr-query", help="point-trace queries against the registry's sources")
    query.add_argument("--registry", required=True, help="source_registry.json (local path or s3://bucket/key)")
    query.add_argument("--output-dir", type=Path, required=True)
    query.add_argument("--max-queries", type=int, default=10)
    query.add_argument(
        "--points", help="PreCannedPoints JSON (local path or s3://bucket/key); its enabled points are used in turn"
    )
    query.add_argument(
        "--bbox",
        help="S,N,W,E box for random points (default: the points file's extent, else the sample region "
        "39,40.5,-107,-105)",
    )
    query.add_argument("--random", action="store_true", help="random points even when --points is given")
    query.add_argument("--variable", default="temperature_2m", help="store variable (default: %(default)s)")
    query.add_argument("--seed", type=int, help="random seed for reproducible points")
    query.add_argument("--retries", type=int, default=3, help="attempts per source open / read on transient errors")
    _add_observability(query)

    upload = steps.add_parser("s3-upload", help="upload the query JSONs to S3, timing each file")
    _add_s3(upload)
    upload.add_argument("--input-dir", type=Path, required=True)
    upload.add_argument("--pattern", default="*.json", help="file glob in --input-dir (default: %(default)s)")
    _add_observability(upload)

    read = steps.add_parser("s3-read", help="read objects back from S3, timing each, with local copies")
    _add_s3(read)
    read.add_argument("--max-files", type=int, default=20)
    read.add_argument("--output-dir", type=Path, required=True)
    _add_observability(read)

    plot = steps.add_parser("plot", help="PNG of the query traces (members thin, median bold)")
    plot.add_argument("--input-dir", type=Path, required=True)
    plot.add_argument("--output", type=Path, required=True)
    plot.add_argument("--max-series", type=int, default=6)


@contextmanager
def _performance_log(path: Path | None) -> Iterator[None]:
    """Mirror the ``forecast_smoke`` loggers into ``path`` while the step runs."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    log.addHandler(handler)
    previous = log.level
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(previous)
        handler.close()


def _report(args: argparse.Namespace, rollup: Rollup) -> None:
    from forecast_smoke.metrics import put_cloudwatch, write_emf
    from forecast_smoke.rollup import append_csv

    log.info(
        "%s: %d item(s), %d ok, %d failed, p50=%s s, p95=%s s, %.2f items/s, %.0f bytes/s",
        rollup.step, rollup.count, rollup.ok, rollup.failed, _fmt(rollup.p50_seconds), _fmt(rollup.p95_seconds),
        rollup.items_per_second, rollup.bytes_per_second,
    )  # fmt: skip
    if args.rollup_csv:
        append_csv(args.rollup_csv, rollup, args.run_id or os.environ.get("GITHUB_RUN_ID"))
    if args.emf:
        write_emf(rollup)
    if args.cloudwatch:
        put_cloudwatch(rollup, args.cloudwatch_endpoint_url)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _zarr_query(args: argparse.Namespace) -> int:
    from forecast_core.grid import LatLonBox
    from forecast_core.store import StoreError
    from forecast_smoke.query import (
        SAMPLE_BBOX,
        load_registry,
        points_from_file,
        random_points,
        run_queries,
    )
    from forecast_smoke.retry import RetryPolicy

    if args.max_queries < 1:
        log.error("--max-queries must be at least 1")
        return 2
    try:
        registry = load_registry(args.registry)
        listed = points_from_file(args.points) if args.points else []
        if args.points and not listed:
            raise ValueError(f"{args.points} has no enabled point")
        bbox = (
            LatLonBox.parse(args.bbox)
            if args.bbox
            else LatLonBox.around((p.latitude, p.longitude) for p in listed)
            if listed
            else LatLonBox(*SAMPLE_BBOX)
        )
    except (OSError, ValueError, StoreError) as error:
        log.error("zarr-query: %s", error)
        return 2
    use_random = args.random or not listed
    points = random_points(args.max_queries, bbox, args.seed) if use_random else listed
    summary = run_queries(
        registry,
        args.registry,
        args.output_dir,
        points,
        max_queries=args.max_queries,
        variable=args.variable,
        point_mode="random" if use_random else "points-file",
        seed=args.seed if use_random else None,
        policy=RetryPolicy(attempts=max(1, args.retries)),
    )
    _report(args, summary.rollup)
    return 0 if summary.rollup.failed == 0 else 1


def _s3_upload(args: argparse.Namespace) -> int:
    from forecast_core.store import s3_endpoint_url
    from forecast_smoke.retry import s3_client
    from forecast_smoke.transfer import upload_dir

    if not args.input_dir.is_dir():
        log.error("s3-upload: %s is not a folder", args.input_dir)
        return 2
    endpoint = s3_endpoint_url(args.endpoint_url)
    client = s3_client(endpoint, args.max_attempts)
    summary = upload_dir(client, args.bucket, args.prefix, args.input_dir, pattern=args.pattern, endpoint_url=endpoint)
    _report(args, summary.rollup)
    return 0 if summary.rollup.failed == 0 and summary.rollup.count > 0 else 1


def _s3_read(args: argparse.Namespace) -> int:
    from forecast_core.store import s3_endpoint_url
    from forecast_smoke.retry import s3_client
    from forecast_smoke.transfer import read_prefix

    endpoint = s3_endpoint_url(args.endpoint_url)
    client = s3_client(endpoint, args.max_attempts)
    try:
        summary = read_prefix(
            client, args.bucket, args.prefix, args.output_dir, max_files=args.max_files, endpoint_url=endpoint
        )
    except Exception as error:  # noqa: BLE001 (the listing itself failed: no bucket, no credentials, no endpoint)
        log.error("s3-read: cannot list s3://%s/%s: %s", args.bucket, args.prefix, error)
        return 1
    _report(args, summary.rollup)
    bad_payload = any(item.query_status == "failed" for item in summary.objects)
    return 0 if summary.rollup.failed == 0 and summary.rollup.count > 0 and not bad_payload else 1


def _plot(args: argparse.Namespace) -> int:
    from forecast_smoke.plot import NothingToPlot, plot_traces

    try:
        plot_traces(args.input_dir, args.output, args.max_series)
    except (NothingToPlot, OSError) as error:
        log.error("plot: %s", error)
        return 2
    print(f"wrote {args.output}")  # noqa: T201
    return 0


def run(args: argparse.Namespace) -> int:
    handlers = {"zarr-query": _zarr_query, "s3-upload": _s3_upload, "s3-read": _s3_read, "plot": _plot}
    command = args.smoke_command
    with _performance_log(getattr(args, "log_file", None)):
        code = handlers[command](args)
    sys.stdout.flush()
    return code
