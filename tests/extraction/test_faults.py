"""Extraction under faults: the sample sources (Icechunk) and the artifact store, both on an
unversioned S3 bucket reached through the faulty proxy, answer a seeded share of requests with
every fault kind; the run completes and publishes exactly what a clean run publishes (compared by
content per source, variable, init and kind — artifact keys may differ between runs)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from extraction.pipeline import RunOptions, run_extraction
from forecast_core.layout import LATEST_MANIFEST_KEY
from forecast_core.registry import IcechunkLocation, SourceRegistry
from forecast_core.status import RunManifest
from forecast_core.store import ArtifactStore, sha256_hex
from forecast_smoke.s3_faults import FAULT_KINDS, FaultPlan
from forecast_smoke.s3_proxy import S3FaultProxy
from tests.extraction.conftest import make_points, seed

pytestmark = pytest.mark.aws
POINTS = [("alpha", 39.6, -106.3), ("bravo-east", 39.9, 253.6), ("charlie", 40.2, -105.4)]
VARIABLES = ["temperature_2m", "precipitation_total"]
ArtifactId = tuple[str, str, date, str]


@pytest.fixture
def proxy(moto: str, quick_retries: None, quiet_moto_log: None) -> Iterator[S3FaultProxy]:
    with S3FaultProxy(moto) as running:
        yield running


def _upload_sources(samples: Path, registry: SourceRegistry, endpoint: str, bucket: str, reader: str) -> SourceRegistry:
    """Copy the sample sources (Icechunk repositories keep the same keys in a folder and in S3) to
    ``bucket``; returns the registry that reads them from there through ``reader``."""
    client = boto3.client("s3", endpoint_url=endpoint)
    sources = []
    for entry in registry.sources:
        folder = Path(entry.location.url)
        for path in sorted(item for item in folder.rglob("*") if item.is_file()):
            key = f"sources/{folder.name}/{path.relative_to(folder).as_posix()}"
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        location = IcechunkLocation(url=f"s3://{bucket}/sources/{folder.name}", anonymous=False, endpoint_url=reader)
        sources.append(entry.replace(location=location.model_dump()).model_dump())
    return registry.replace(sources=sources)


def _published(store: ArtifactStore) -> dict[ArtifactId, tuple[str, pa.Table]]:
    """Every artifact latest.json lists: the sha256 of its bytes (checked against the manifest)
    and its table."""
    manifest = store.read_model(LATEST_MANIFEST_KEY, RunManifest)
    published: dict[ArtifactId, tuple[str, pa.Table]] = {}
    for item in manifest.artifacts:
        data = store.read_bytes(item.key)
        assert sha256_hex(data) == item.sha256, f"{item.key} does not match its manifest"
        published[(item.source_id, item.variable_id, item.init_date, item.kind)] = (
            item.sha256,
            pq.read_table(io.BytesIO(data)),
        )
    return published


def _extract(store: ArtifactStore) -> str:
    report = run_extraction(RunOptions(store=store, variables=VARIABLES, scheduler="synchronous", progress=False))
    assert report.outcome == "success", (report.message, report.errors)
    return report.run_id


def test_extraction_through_faults_publishes_what_a_clean_run_publishes(
    moto: str,
    s3_bucket: str,
    proxy: S3FaultProxy,
    tiny_samples: Path,
    tiny_registry: SourceRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clean = seed(str(tmp_path / "clean"), tiny_registry, make_points(POINTS))
    _extract(clean)
    expected = _published(clean)
    assert {kind for *_, kind in expected} == {"points", "ensemble_summary", "map_summary"}
    assert len(expected) == 2 * len(VARIABLES) * 3  # both sources, every variable, every kind

    registry = _upload_sources(tiny_samples, tiny_registry, moto, s3_bucket, reader=proxy.url)
    faulty = seed(f"s3://{s3_bucket}/store", registry, make_points(POINTS))
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)  # the artifact store, through the proxy too
    proxy.decider.reset()
    proxy.plan = FaultPlan(rate=0.15, kinds=FAULT_KINDS, seed=18, slow_seconds=0.05)
    _extract(ArtifactStore(faulty.url))
    proxy.plan = FaultPlan()
    faults = proxy.stats().faults
    assert set(faults) == set(FAULT_KINDS), f"every kind of fault was met: {dict(faults)}"

    got = _published(ArtifactStore(faulty.url, endpoint_url=moto))
    assert sorted(got) == sorted(expected)
    for artifact, (sha256, table) in expected.items():
        assert got[artifact][1].equals(table), f"{artifact}: its table differs from the clean run's"
        assert got[artifact][0] == sha256, f"{artifact}: same table, other bytes than the clean run's"
