"""Backfill: `extract --init DATE|previous` publishes an older init beside the newest."""

from __future__ import annotations

from datetime import UTC, date, datetime

from extraction.pipeline import RunOptions, RunReport, run_extraction
from forecast_cli.main import main
from forecast_core.published import read_latest
from forecast_core.registry import SourceRegistry
from forecast_core.store import ArtifactStore
from tests.extraction.conftest import make_points, seed

POINTS = [("alpha", 39.6, -106.3)]
VARIABLES = ["temperature_2m"]
NEWEST, PREVIOUS = date(2026, 11, 24), date(2026, 11, 23)


def _run(store: ArtifactStore, **options: object) -> RunReport:
    return run_extraction(
        RunOptions(store=store, scheduler="synchronous", progress=False, variables=VARIABLES, **options)  # type: ignore[arg-type]
    )


def test_previous_init_then_newest_lists_both_and_describes_the_newest(
    store_url: str, tiny_registry: SourceRegistry
) -> None:
    store = seed(store_url, tiny_registry, make_points(POINTS))
    backfill = _run(store, inits_back=1)
    assert backfill.outcome == "success" and backfill.manifest is not None
    assert backfill.manifest.init_dates("gefs", "temperature_2m") == [PREVIOUS]
    assert {info.init_time.date() for info in backfill.manifest.sources} == {PREVIOUS}
    newest = _run(store)
    assert newest.outcome == "success", "a backfill does not make the newest look extracted"
    manifest = read_latest(store)
    assert manifest is not None
    for source_id in ("gefs", "ecmwf_ifs_ens"):
        assert manifest.init_dates(source_id, "temperature_2m") == [NEWEST, PREVIOUS]
    assert {info.init_time.date() for info in manifest.sources} == {NEWEST}
    gefs = next(info for info in manifest.sources if info.source_id == "gefs")
    assert gefs.is_partial, "the newest GEFS sample init is partial"
    # backfilling again after the newest keeps the manifest describing the newest init
    again = _run(store, init_time=datetime(2026, 11, 23, tzinfo=UTC))
    assert again.outcome == "success" and again.manifest is not None
    assert {info.init_time.date() for info in again.manifest.sources} == {NEWEST}
    assert again.manifest.init_dates("gefs", "temperature_2m") == [NEWEST, PREVIOUS]


def test_cli_init_option_and_a_missing_init(store_url: str, tiny_registry: SourceRegistry) -> None:
    seed(store_url, tiny_registry, make_points(POINTS))
    common = ["extract", "--store", store_url, "--scheduler", "synchronous", "--no-progress", "--variables", *VARIABLES]
    assert main([*common, "--init", "2026-11-23"]) == 0
    assert main([*common, "--init", "2020-01-01"]) == 2, "an init the stores do not hold publishes nothing"
    manifest = read_latest(ArtifactStore(store_url))
    assert manifest is not None and manifest.init_dates("gefs", "temperature_2m") == [PREVIOUS]
