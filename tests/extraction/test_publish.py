"""Publish protocol: a run killed after its data but before latest.json, locally and on S3 (moto).

Artifact keys are content-addressed, so the killed run's data lands beside the run in force and
never over it: the reader gets the old run's exact bytes, and the next run completes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import boto3
import pytest

from extraction.inventory import read_history, take_inventory
from extraction.pipeline import RunOptions, run_extraction
from extraction.publish import carried_forward
from extraction.sample_sources.cli import write_samples
from forecast_core.layout import LATEST_MANIFEST_KEY, PRE_CANNED_POINTS_KEY
from forecast_core.published import read_published
from forecast_core.registry import SourceRegistry
from forecast_core.status import ManifestArtifact, RunManifest
from forecast_core.store import ArtifactStore, sha256_hex
from tests.extraction.conftest import make_points, seed

TWO = [("alpha", 39.6, -106.3), ("charlie", 40.2, -105.4)]
THREE = [*TWO, ("delta", 39.3, -106.9)]


class Killed(BaseException):
    """Stands in for SIGKILL between the data writes and latest.json."""


def _die(*_: object) -> None:
    raise Killed


def _run(store: ArtifactStore, **options: object):  # type: ignore[no-untyped-def]
    return run_extraction(
        RunOptions(store=store, scheduler="synchronous", progress=False, variables=["temperature_2m"], **options)  # type: ignore[arg-type]
    )


def test_killed_run_leaves_latest_in_force_and_readers_never_mix(
    store_url: str, tiny_registry: SourceRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = seed(store_url, tiny_registry, make_points(TWO))
    first = _run(store)
    latest = store.read_bytes(LATEST_MANIFEST_KEY)
    store.write_model(PRE_CANNED_POINTS_KEY, make_points(THREE))
    _, before = read_published(store)
    monkeypatch.setattr("extraction.pipeline.commit", _die)
    with pytest.raises(Killed):
        _run(store)
    monkeypatch.undo()
    assert store.read_bytes(LATEST_MANIFEST_KEY) == latest
    manifest, after = read_published(store)
    assert manifest.run_id == first.run_id and after == before
    second = _run(store)
    manifest, data = read_published(store)
    assert manifest.run_id == second.run_id != first.run_id
    assert all(sha256_hex(data[item.key]) == item.sha256 for item in manifest.artifacts)


@pytest.mark.aws
def test_s3_reader_gets_the_old_run_exactly_and_inventory_counts_versions(
    s3_bucket: str, moto: str, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3.client("s3", endpoint_url=moto).put_bucket_versioning(
        Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    samples = write_samples(f"s3://{s3_bucket}/sources", size="tiny", newest_init=date(2026, 11, 24))
    store = seed(f"s3://{s3_bucket}/store", samples.registry, make_points(TWO))
    first = _run(store)
    assert first.outcome == "success" and first.manifest is not None
    assert not any(item.version_id for item in first.manifest.artifacts), "keys are content-addressed"
    _, before = read_published(store)
    store.write_model(PRE_CANNED_POINTS_KEY, make_points(THREE))
    monkeypatch.setattr("extraction.pipeline.commit", _die)
    with pytest.raises(Killed):
        _run(store)
    monkeypatch.undo()
    manifest, after = read_published(store)
    assert manifest.run_id == first.run_id and after == before
    status = take_inventory(store)
    assert status.noncurrent_version_count >= 1 and status.noncurrent_size_bytes > 0
    assert status.estimated_monthly_storage_usd > 0 and status.price_as_of == date(2026, 11, 25)
    assert {p.prefix for p in status.prefixes} >= {"forecasts/", "manifests/", "dashboard/", "logs/"}
    assert [row.object_count for row in read_history(store)] == [status.object_count]


def _artifact(source: str, init: date, sha: str = "0" * 64) -> ManifestArtifact:
    key = f"forecasts/source={source}/variable=temperature_2m/init_date={init.isoformat()}/points.{sha}.parquet"
    return ManifestArtifact(key=key, kind="points", source_id=source, variable_id="temperature_2m",
                            init_date=init, size_bytes=1, sha256=sha, row_count=1)  # fmt: skip


def test_carried_forward_keeps_previous_inits_but_not_the_rewritten_one() -> None:
    days = [date(2026, 11, d) for d in (20, 21, 22, 23)]
    previous = RunManifest.model_validate_json(
        RunManifest(
            run_id="20261123T070000Z",
            created_utc=datetime(2026, 11, 23, 7, tzinfo=UTC),
            sources=[],
            point_ids=[],
            point_set_hash="0" * 64,
            artifacts=[_artifact("gefs", day) for day in days],
        ).model_dump_json()
    )
    kept = carried_forward(previous, [_artifact("gefs", date(2026, 11, 24), "1" * 64)])
    assert sorted(item.init_date for item in kept) == [days[2], days[3]]
    rewritten = carried_forward(previous, [_artifact("gefs", days[3], "1" * 64)])
    assert sorted(item.init_date for item in rewritten) == [days[1], days[2]]


def test_inventory_of_a_local_store_appends_history(store_url: str, tiny_registry: SourceRegistry) -> None:
    store = seed(store_url, tiny_registry, make_points(TWO))
    objects = store.list("")
    first = take_inventory(store)
    assert first.object_count == len(objects) and first.total_size_bytes == sum(o.size for o in objects)
    assert first.noncurrent_version_count == 0
    second = take_inventory(store)
    assert second.object_count == first.object_count + 2  # the status and history files now exist
    expected = round(second.total_size_bytes / 2**30 * 0.023, 6)
    assert second.estimated_monthly_storage_usd == pytest.approx(expected)
    assert len(read_history(store)) == 2


def test_inventory_cli_prints_status_and_emf(
    store_url: str, tiny_registry: SourceRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from forecast_cli.main import main

    seed(store_url, tiny_registry, make_points(TWO))
    assert main(["inventory", "--store", store_url]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    emf = json.loads(lines[-1])
    assert emf["ArtifactStoreObjects"] == [3.0] and emf["ArtifactStoreBytes"][0] > 0 and emf["service"] == "inventory"
    status = json.loads("\n".join(lines[:-1]))
    assert status["object_count"] == 3 and status["price_per_gb_month_usd"] == 0.023
