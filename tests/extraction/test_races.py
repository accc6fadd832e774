"""Concurrent runs never drop a point: --points runs and full runs racing for latest.json.

The deterministic tests make one run commit between another's extraction and its commit (by
wrapping the pipeline's ``commit``), for each way the two can meet. The last test races real
processes; its assertions hold for every interleaving.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import extraction.pipeline as pipeline
from extraction.pipeline import RunOptions, RunReport, run_extraction
from extraction.publish import manifest_bytes
from forecast_core.layout import LATEST_MANIFEST_KEY, PRE_CANNED_POINTS_KEY
from forecast_core.published import read_latest, read_published
from forecast_core.registry import SourceRegistry
from forecast_core.store import ArtifactStore
from tests.extraction.conftest import make_points, seed

ROOT = Path(__file__).resolve().parents[2]
AB = [("alpha", 39.6, -106.3), ("bravo", 40.2, -105.4)]
C = ("charlie", 39.3, -106.9)
D = ("delta", 40.4, -105.2)
VARIABLES = ["temperature_2m"]


def _run(store: ArtifactStore, **options: object) -> RunReport:
    return run_extraction(RunOptions(store=store, scheduler="synchronous", progress=False, variables=VARIABLES,
                                     **options))  # type: ignore[arg-type]  # fmt: skip


def _before_first_commit(monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[], None]) -> list[bool]:
    """Run ``meanwhile`` (another run committing) just before this run's first commit."""
    original = pipeline.commit
    results: list[bool] = []

    def racing(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not results and not getattr(racing, "busy", False):
            racing.busy = True  # type: ignore[attr-defined]
            monkeypatch.setattr(pipeline, "commit", original)
            meanwhile()
            monkeypatch.setattr(pipeline, "commit", racing)
        results.append(original(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(pipeline, "commit", racing)
    return results


def _rows(store: ArtifactStore) -> dict[str, set[str]]:
    """Point ids with rows in the newest init's points artifact, per source."""
    manifest, data = read_published(store)
    found: dict[str, set[str]] = {}
    for source in ("gefs", "ecmwf_ifs_ens"):
        artifact = manifest.artifact(source, VARIABLES[0], "points")
        assert artifact is not None
        found[source] = set(pq.read_table(pa.BufferReader(data[artifact.key]))["point_id"].to_pylist())
    return found


def test_a_full_run_merges_a_point_another_run_added_meanwhile(
    store_url: str, tiny_registry: SourceRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = seed(store_url, tiny_registry, make_points(AB))
    _run(store)

    def add_charlie() -> None:
        store.write_model(PRE_CANNED_POINTS_KEY, make_points([*AB, C]))
        assert _run(store, point_ids=["charlie"]).outcome == "success"

    commits = _before_first_commit(monkeypatch, add_charlie)
    full = _run(store, force=True)  # read its config (alpha, bravo) before charlie was added
    assert full.outcome == "success" and commits == [False, True]
    assert full.manifest is not None and full.manifest.point_ids == ["alpha", "bravo", "charlie"]
    assert _rows(store) == {"gefs": {"alpha", "bravo", "charlie"}, "ecmwf_ifs_ens": {"alpha", "bravo", "charlie"}}


def test_a_full_run_extracts_again_when_the_added_point_is_on_another_init(
    store_url: str, tiny_registry: SourceRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = seed(store_url, tiny_registry, make_points(AB))
    older = _run(store, inits_back=1)  # the store holds only the previous init
    assert older.manifest is not None

    def add_charlie_on_the_older_init() -> None:
        store.write_model(PRE_CANNED_POINTS_KEY, make_points([*AB, C]))
        added = _run(store, point_ids=["charlie"])
        assert added.manifest is not None and added.manifest.sources == older.manifest.sources  # type: ignore[union-attr]

    _before_first_commit(monkeypatch, add_charlie_on_the_older_init)
    full = _run(store, force=True)
    assert full.outcome == "success" and full.manifest is not None
    assert full.manifest.point_ids == ["alpha", "bravo", "charlie"]
    assert all(info.init_time > older.manifest.sources[0].init_time for info in full.manifest.sources)
    assert _rows(store) == {"gefs": {"alpha", "bravo", "charlie"}, "ecmwf_ifs_ens": {"alpha", "bravo", "charlie"}}


def test_a_points_run_extracts_again_when_a_full_run_moved_to_a_newer_init(
    store_url: str, tiny_registry: SourceRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = seed(store_url, tiny_registry, make_points(AB))
    older = _run(store, inits_back=1)
    store.write_model(PRE_CANNED_POINTS_KEY, make_points([*AB, C]))
    newest: list[RunReport] = []
    _before_first_commit(monkeypatch, lambda: newest.append(_run(store, force=True)))
    added = _run(store, point_ids=["charlie"])  # planned on the older init: must not list it
    assert added.outcome == "success" and added.manifest is not None and newest[0].manifest is not None
    assert [i.init_time for i in added.manifest.sources] == [i.init_time for i in newest[0].manifest.sources]
    assert older.manifest is not None and added.manifest.sources != older.manifest.sources
    assert _rows(store) == {"gefs": {"alpha", "bravo", "charlie"}, "ecmwf_ifs_ens": {"alpha", "bravo", "charlie"}}


def test_a_stale_full_run_does_not_replace_a_newer_init(
    store_url: str, tiny_registry: SourceRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = seed(store_url, tiny_registry, make_points(AB))
    first = _run(store)
    assert first.manifest is not None
    # another run commits a newer init of gefs while this one extracts the init it planned
    newer = first.manifest.model_copy(
        update={
            "run_id": "29991231T000000Z",
            "sources": [
                info.model_copy(update={"init_time": info.init_time + timedelta(days=1)})
                if info.source_id == "gefs"
                else info
                for info in first.manifest.sources
            ],
        }
    )
    _before_first_commit(monkeypatch, lambda: store.write_bytes(LATEST_MANIFEST_KEY, manifest_bytes(newer)))
    stale = _run(store, force=True)
    assert stale.outcome == "skipped" and "already holds gefs" in stale.message
    assert read_latest(store) == newer


@pytest.mark.slow
def test_two_points_runs_and_a_full_run_racing_as_processes_keep_every_point(
    store_url: str, tiny_registry: SourceRegistry, tmp_path: Path
) -> None:
    store = seed(store_url, tiny_registry, make_points(AB))
    _run(store)
    store.write_model(PRE_CANNED_POINTS_KEY, make_points([*AB, C, D]))
    commands = [["--force"], ["--points", "charlie"], ["--points", "delta"]]
    with open(tmp_path / "runs.log", "wb") as log:
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "forecast_cli.main",
                    "extract",
                    "--store",
                    store_url,
                    "--no-progress",
                    "--scheduler",
                    "synchronous",
                    "--variables",
                    *VARIABLES,
                    *extra,
                ],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            for extra in commands
        ]
        codes = [process.wait(timeout=600) for process in processes]
    assert codes == [0, 0, 0], (tmp_path / "runs.log").read_text()
    latest = read_latest(store)
    assert latest is not None and latest.point_ids == ["alpha", "bravo", "charlie", "delta"]
    assert _rows(store) == {s: {"alpha", "bravo", "charlie", "delta"} for s in ("gefs", "ecmwf_ifs_ens")}
