"""``forecast-panel sample-data``: write offline GEFS and IFS ENS sample sources.

Writes ``<out>/noaa-gefs-forecast-35-day.icechunk`` and
``<out>/ecmwf-ifs-ens-forecast-15-day-0-25-degree.icechunk`` (``.zarr`` with ``--format zarr``)
and ``<out>/source_registry.json`` pointing at them under the production source ids.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from extraction.sample_sources.templates import DATASETS
from extraction.sample_sources.writer import (
    TINY_REGION,
    US_ROCKIES,
    SampleSpec,
    StoreFormat,
    default_init_dates,
    write_store,
)
from forecast_core.grid import LatLonBox
from forecast_core.registry import IcechunkLocation, SourceEntry, SourceLocation, SourceRegistry, ZarrLocation
from forecast_core.store import s3_endpoint_url

log = logging.getLogger(__name__)
SampleSize = Literal["demo", "tiny"]
SOURCE_COLORS = {"gefs": "#1f77b4", "ecmwf_ifs_ens": "#d62728"}


@dataclass(frozen=True, slots=True)
class SampleResult:
    """What ``write_samples`` produced."""

    registry: SourceRegistry
    registry_path: str
    seconds: float


def _join(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}" if base.startswith("s3://") else str(Path(base).resolve() / name)


def write_samples(
    out: str,
    *,
    size: SampleSize = "demo",
    region: LatLonBox | None = None,
    newest_init: date | None = None,
    init_count: int | None = None,
    store_format: StoreFormat = "icechunk",
    endpoint_url: str | None = None,
    dataset_ids: tuple[str, ...] = tuple(DATASETS),
) -> SampleResult:
    """Write the sample stores and their registry; returns the registry."""
    started = time.perf_counter()
    endpoint = s3_endpoint_url(endpoint_url) if out.startswith("s3://") else None
    region = region or (TINY_REGION if size == "tiny" else US_ROCKIES)
    inits = default_init_dates(init_count or (2 if size == "tiny" else 3), newest_init)
    entries: list[SourceEntry] = []
    for dataset_id in dataset_ids:
        facts = DATASETS[dataset_id]
        members = min(5, facts.member_count) if size == "tiny" else facts.member_count
        url = _join(out, f"{dataset_id}.{store_format}")
        spec = SampleSpec(facts=facts, region=region, init_dates=inits, member_count=members)
        write_store(url, spec, store_format, endpoint)
        location: SourceLocation
        if store_format == "icechunk":
            location = IcechunkLocation(url=url, anonymous=False, endpoint_url=endpoint)
        else:
            location = ZarrLocation(url=url, anonymous=False, endpoint_url=endpoint)
        entries.append(
            SourceEntry(
                source_id=facts.source_id,
                display_name=facts.display_name,
                dataset_id=dataset_id,
                location=location,
                color=SOURCE_COLORS.get(facts.source_id, "#1f77b4"),
            )
        )
        log.info("wrote %s (%d inits, %d members)", url, len(inits), members)
    registry = SourceRegistry(sources=entries)
    registry_path = _join(out, "source_registry.json")
    payload = registry.model_dump_json(indent=2).encode() + b"\n"
    if out.startswith("s3://"):
        from forecast_core.store import ArtifactStore

        ArtifactStore(out, endpoint_url=endpoint).write_bytes("source_registry.json", payload)
    else:
        Path(registry_path).write_bytes(payload)
    return SampleResult(registry=registry, registry_path=registry_path, seconds=time.perf_counter() - started)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder or s3://bucket/prefix")
    parser.add_argument("--size", choices=["demo", "tiny"], default="demo", help="demo (full members) or tiny (tests)")
    parser.add_argument("--region", type=LatLonBox.parse, help="south,north,west,east in degrees (default: US Rockies)")
    parser.add_argument(
        "--newest-init", type=date.fromisoformat, help="newest init date YYYY-MM-DD (default: today UTC)"
    )
    parser.add_argument("--inits", type=int, help="number of daily inits (default: 3 demo, 2 tiny; ≥ 2)")
    parser.add_argument("--format", choices=["icechunk", "zarr"], default="icechunk", dest="store_format")
    parser.add_argument("--endpoint-url", help="S3 endpoint for s3:// output (default: AWS_ENDPOINT_URL)")


def run(args: argparse.Namespace) -> int:
    if args.inits is not None and args.inits < 2:
        log.error("--inits must be at least 2 (the app compares with the previous init)")
        return 2
    result = write_samples(
        args.out,
        size=args.size,
        region=args.region,
        newest_init=args.newest_init,
        init_count=args.inits,
        store_format=args.store_format,
        endpoint_url=args.endpoint_url,
    )
    count = len(result.registry.sources)
    print(f"wrote {count} sample sources and {result.registry_path} in {result.seconds:.1f} s")  # noqa: T201
    return 0
