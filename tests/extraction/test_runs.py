"""Run behaviour: skip/force, --points merge, bounds, per-variable failures, CLI and exit codes."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
import pytest

from extraction.pipeline import RunOptions, run_extraction
from forecast_cli.main import main
from forecast_core import defaults
from forecast_core.layout import EXTRACTION_STATUS_KEY, LATEST_MANIFEST_KEY, PRE_CANNED_POINTS_KEY
from forecast_core.published import read_latest, read_published
from forecast_core.registry import CanonicalVariable, CanonicalVariables, FieldNode, SourceRegistry
from forecast_core.status import ExtractionStatus
from forecast_core.store import ArtifactStore
from tests.extraction.conftest import make_points, row_groups_per_point, seed

TWO = [("alpha", 39.6, -106.3), ("charlie", 40.2, -105.4)]
ONE_VARIABLE = ["temperature_2m"]


def _run(store: ArtifactStore, **options: object):  # type: ignore[no-untyped-def]
    return run_extraction(RunOptions(store=store, scheduler="synchronous", progress=False, **options))  # type: ignore[arg-type]


def _point_ids(store: ArtifactStore, source: str = "gefs", variable: str = "temperature_2m") -> list[str]:
    manifest = read_latest(store)
    assert manifest is not None
    artifact = manifest.artifact(source, variable, "points")
    assert artifact is not None
    return sorted(set(pq.read_table(io.BytesIO(store.read_bytes(artifact.key)))["point_id"].to_pylist()))


def test_second_run_is_skipped_unless_forced_or_points_change(store_url: str, tiny_registry: SourceRegistry) -> None:
    store = seed(store_url, tiny_registry, make_points(TWO))
    first = _run(store, variables=ONE_VARIABLE)
    assert first.outcome == "success" and first.exit_code == 0
    latest = store.read_bytes(LATEST_MANIFEST_KEY)
    second = _run(store, variables=ONE_VARIABLE)
    assert second.outcome == "skipped" and "newest init" in second.message and second.exit_code == 0
    assert store.read_bytes(LATEST_MANIFEST_KEY) == latest
    status = store.read_model(EXTRACTION_STATUS_KEY, ExtractionStatus)
    assert status.outcome == "skipped" and status.run_id == first.run_id
    assert status.sources_processed == ["ecmwf_ifs_ens", "gefs"], "a skip keeps the published run's figures"
    assert status.variables_processed == ONE_VARIABLE
    forced = _run(store, variables=ONE_VARIABLE, force=True)
    assert forced.outcome == "success" and forced.manifest is not None
    assert forced.manifest.previous_run_id == first.run_id
    store.write_model(PRE_CANNED_POINTS_KEY, make_points([*TWO, ("delta", 39.3, -106.9)]))
    changed = _run(store, variables=ONE_VARIABLE)
    assert changed.outcome == "success" and _point_ids(store) == ["alpha", "charlie", "delta"]


def test_points_run_merges_a_new_point_into_the_published_run(store_url: str, tiny_registry: SourceRegistry) -> None:
    store = seed(store_url, tiny_registry, make_points(TWO))
    first = _run(store, variables=["precipitation_total"])
    assert first.manifest is not None
    before = first.manifest.artifact("ecmwf_ifs_ens", "precipitation_total", "ensemble_summary")
    assert before is not None
    old_rows = pq.read_table(io.BytesIO(store.read_bytes(before.key))).to_pandas()
    store.write_model(PRE_CANNED_POINTS_KEY, make_points([*TWO, ("delta", 39.3, -106.9)]))
    merged = _run(store, variables=["precipitation_total"], point_ids=["delta"])
    assert merged.outcome == "success" and merged.manifest is not None
    assert merged.manifest.point_ids == ["alpha", "charlie", "delta"]
    assert _point_ids(store, "ecmwf_ifs_ens", "precipitation_total") == ["alpha", "charlie", "delta"]
    after = merged.manifest.artifact("ecmwf_ifs_ens", "precipitation_total", "ensemble_summary")
    assert after is not None
    new_rows = pq.read_table(io.BytesIO(store.read_bytes(after.key))).to_pandas()
    kept = new_rows[new_rows["point_id"] != "delta"].reset_index(drop=True)
    assert kept.equals(old_rows)
    assert set(row_groups_per_point(store.read_bytes(after.key)).values()) == {1}
    # the map summary of the published run is carried into the merged run unchanged
    map_before = first.manifest.artifact("gefs", "precipitation_total", "map_summary")
    map_after = merged.manifest.artifact("gefs", "precipitation_total", "map_summary")
    assert map_before is not None and map_after is not None and map_before.sha256 == map_after.sha256


def test_points_run_without_previous_run(store_url: str, tiny_registry: SourceRegistry) -> None:
    store = seed(store_url, tiny_registry, make_points(TWO))
    report = _run(store, variables=ONE_VARIABLE, point_ids=["charlie"])
    assert report.outcome == "success"
    assert _point_ids(store) == ["charlie"]
    manifest, data = read_published(store)
    assert manifest.point_ids == ["charlie"] and len(data) == 2 * 3


def test_bounds_fail_loudly_and_publish_nothing(store_url: str, tiny_registry: SourceRegistry) -> None:
    store = seed(store_url, tiny_registry, make_points(TWO))
    report = _run(store, max_points=1)
    assert report.outcome == "failed" and report.exit_code == 2
    assert [e.kind for e in report.errors] == ["limit_exceeded"] and "2 points" in report.errors[0].message
    assert not store.exists(LATEST_MANIFEST_KEY)
    assert store.read_model(EXTRACTION_STATUS_KEY, ExtractionStatus).outcome == "failed"
    registry = tiny_registry.replace(extraction_limits={"max_points": 2000, "max_variables": 2, "max_sources": 8})
    too_many = _run(seed(store_url, registry, make_points(TWO)))
    assert too_many.outcome == "failed" and "variables" in too_many.message


def test_missing_variable_and_unit_mismatch_are_recorded(store_url: str, tiny_registry: SourceRegistry) -> None:
    base = defaults.canonical_variables()
    extra = [
        CanonicalVariable(variable_id="dew_point_2m", display_name="Dew point", native_units="degC",
                          display_units=["degC"], kind="instant",
                          derivations={"gefs": FieldNode(variable="dew_point_temperature_2m", units="degree_Celsius")}),
        CanonicalVariable(variable_id="kelvin_2m", display_name="T (K)", native_units="degC", display_units=["degC"],
                          kind="instant", derivations={"gefs": FieldNode(variable="temperature_2m", units="K")}),
    ]  # fmt: skip
    variables = CanonicalVariables(variables=[*base.variables, *extra])
    store = seed(store_url, tiny_registry, make_points(TWO), variables)
    report = _run(store, variables=["temperature_2m", "dew_point_2m", "kelvin_2m"])
    assert report.outcome == "partial" and report.exit_code == 1
    kinds = sorted((e.kind, e.source_id, e.variable_id) for e in report.errors)
    assert kinds == [("missing_variable", "gefs", "dew_point_2m"), ("unit_mismatch", "gefs", "kelvin_2m")]
    assert report.manifest is not None
    assert {a.variable_id for a in report.manifest.artifacts} == {"temperature_2m"}


def test_unreachable_source_is_recorded_and_others_complete(store_url: str, tiny_registry: SourceRegistry) -> None:
    broken = tiny_registry.sources[0].replace(location={"kind": "icechunk", "url": "/nonexistent/repo.icechunk"})
    registry = tiny_registry.replace(sources=[broken.model_dump(), tiny_registry.sources[1].model_dump()])
    store = seed(store_url, registry, make_points(TWO))
    report = _run(store, variables=ONE_VARIABLE)
    assert report.outcome == "partial"
    assert [(e.kind, e.source_id) for e in report.errors] == [("store_unreachable", broken.source_id)]
    assert report.manifest is not None and [s.source_id for s in report.manifest.sources] == ["ecmwf_ifs_ens"]


def test_cli_reads_forecast_store_url_and_prints_emf(
    store_url: str, tiny_registry: SourceRegistry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(store_url, tiny_registry, make_points(TWO))
    monkeypatch.setenv("FORECAST_STORE_URL", store_url)
    code = main(["extract", "--scheduler", "synchronous", "--variables", "wind_speed_10m", "--no-progress"])
    assert code == 0
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert emf[-1]["ExtractionSuccess"] == [1.0] and emf[-1]["ExtractionErrors"] == [0.0]
    assert emf[-1]["service"] == "extraction"
    assert main(["extract", "--scheduler", "synchronous", "--points", "nope"]) == 2


def test_a_source_subset_run_carries_the_other_source_forward(store_url: str, tiny_registry: SourceRegistry) -> None:
    store = seed(store_url, tiny_registry, make_points(TWO))
    first = _run(store, variables=ONE_VARIABLE)
    assert first.manifest is not None
    kept = first.manifest.artifact("ecmwf_ifs_ens", "temperature_2m", "points")
    subset = _run(store, variables=ONE_VARIABLE, sources=["gefs"], force=True)
    assert subset.manifest is not None
    assert [info.source_id for info in subset.manifest.sources] == ["ecmwf_ifs_ens", "gefs"]
    assert subset.manifest.artifact("ecmwf_ifs_ens", "temperature_2m", "points") == kept
    status = store.read_model(EXTRACTION_STATUS_KEY, ExtractionStatus)
    assert status.sources_processed == ["gefs"]
    manifest, data = read_published(store)
    assert len(data) == len(manifest.artifacts) == 6


def test_points_run_rebases_when_another_run_commits_first(
    store_url: str, tiny_registry: SourceRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    import extraction.pipeline as pipeline

    store = seed(store_url, tiny_registry, make_points(TWO))
    _run(store, variables=ONE_VARIABLE)
    store.write_model(PRE_CANNED_POINTS_KEY, make_points([*TWO, ("delta", 39.3, -106.9), ("echo", 40.4, -105.2)]))
    original = pipeline.commit
    calls: list[bool] = []

    def racing_commit(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not calls:  # another --points run commits between this one's extraction and its commit
            monkeypatch.setattr(pipeline, "commit", original)
            assert _run(store, variables=ONE_VARIABLE, point_ids=["echo"]).outcome == "success"
            monkeypatch.setattr(pipeline, "commit", racing_commit)
        calls.append(original(*args, **kwargs))
        return calls[-1]

    monkeypatch.setattr(pipeline, "commit", racing_commit)
    report = _run(store, variables=ONE_VARIABLE, point_ids=["delta"])
    assert report.outcome == "success" and calls == [False, True], "the lost swap is composed again on the winner"
    assert _point_ids(store) == ["alpha", "charlie", "delta", "echo"]
    assert report.manifest is not None and report.manifest.point_ids == ["alpha", "charlie", "delta", "echo"]


def test_plain_zarr_sources_give_the_same_values_as_icechunk(
    store_url: str, tiny_registry: SourceRegistry, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from extraction.sample_sources.cli import write_samples
    from tests.conftest import SAMPLE_NEWEST_INIT

    zarr_samples = write_samples(
        str(tmp_path_factory.mktemp("zarr-samples")), size="tiny", newest_init=SAMPLE_NEWEST_INIT, store_format="zarr"
    )
    from_zarr = _run(seed(store_url, zarr_samples.registry, make_points(TWO)), variables=["precipitation_total"])
    from_icechunk = _run(seed(store_url + "-ic", tiny_registry, make_points(TWO)), variables=["precipitation_total"])
    assert from_zarr.manifest is not None and from_icechunk.manifest is not None
    digests = {a.key: a.sha256 for a in from_zarr.manifest.artifacts}
    assert digests == {a.key: a.sha256 for a in from_icechunk.manifest.artifacts}
    assert all(info.snapshot_id is None for info in from_zarr.manifest.sources)


def test_manifest_point_set_hash_is_the_shared_function(store_url: str, tiny_registry: SourceRegistry) -> None:
    import hashlib

    from forecast_core.points import point_set_hash

    points = make_points(TWO)
    report = _run(seed(store_url, tiny_registry, points), variables=ONE_VARIABLE)
    assert report.manifest is not None
    assert report.manifest.point_set_hash == point_set_hash(reversed(points.points))
    lines = sorted(f"{p.point_id}|{p.latitude:.6f}|{p.longitude:.6f}" for p in points.points)
    assert report.manifest.point_set_hash == hashlib.sha256("\n".join(lines).encode()).hexdigest()


def test_points_run_drops_points_disabled_since_the_published_run(
    store_url: str, tiny_registry: SourceRegistry
) -> None:
    from forecast_core.points import PreCannedPoints
    from tests.extraction.conftest import WHEN, make_point

    store = seed(store_url, tiny_registry, make_points(TWO))
    _run(store, variables=ONE_VARIABLE)
    points = [make_point("alpha", 39.6, -106.3, enabled=False), make_point("charlie", 40.2, -105.4),
              make_point("delta", 39.3, -106.9)]  # fmt: skip
    store.write_model(PRE_CANNED_POINTS_KEY, PreCannedPoints(generated_utc=WHEN, points=points))
    report = _run(store, variables=ONE_VARIABLE, point_ids=["delta"])
    assert report.manifest is not None and report.manifest.point_ids == ["charlie", "delta"]
    assert _point_ids(store, "ecmwf_ifs_ens") == ["charlie", "delta"]
