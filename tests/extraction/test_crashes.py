"""Crashes and signals: a killed or stopped extraction never breaks the run in force.

Each run adds a point, so every run writes new artifacts. A run is SIGKILLed at seeded random
moments spread over a clean run's length (imports excluded: the child waits for "go" after
them); after each kill a reader must get one complete run (every listed artifact verified, every
source and variable present), and a final run must complete. The assertions hold wherever a kill
lands, so the test does not depend on timing.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from extraction.pipeline import RunOptions, run_extraction
from extraction.publish import cleanup
from forecast_core.layout import EXTRACTION_STATUS_KEY, PRE_CANNED_POINTS_KEY
from forecast_core.points import PreCannedPoints
from forecast_core.published import read_latest, read_published
from forecast_core.registry import SourceRegistry
from forecast_core.status import ExtractionStatus
from forecast_core.store import ArtifactStore
from tests.extraction.conftest import make_points, seed

ROOT = Path(__file__).resolve().parents[2]
BASE_POINTS = [("alpha", 39.6, -106.3), ("charlie", 40.2, -105.4)]
VARIABLES = ["temperature_2m", "precipitation_total"]


def _points(extra: int) -> PreCannedPoints:
    return make_points([*BASE_POINTS, (f"added-{extra}", 39.1 + 0.1 * (extra % 14), -106.9 + 0.1 * (extra % 18))])


class Child:
    """``tests.extraction.extract_child``, started; ``expect("ready")`` waits for its imports."""

    def __init__(self, store_url: str, log: Path, *options: str) -> None:
        arguments = ["--store", store_url, "--force", "--scheduler", "synchronous", "--no-progress",
                     "--variables", *VARIABLES]  # fmt: skip
        self.log = open(log, "ab")  # noqa: SIM115 (closed in wait)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.extraction.extract_child", *options, *arguments],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
        )  # fmt: skip

    def expect(self, word: str) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        assert line == word, f"child said {line!r}, expected {word!r} (log: {self.log.name})"

    def send(self, line: str = "go") -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def wait(self) -> int:
        code = self.process.wait(timeout=300)
        self.log.close()
        return code


def _assert_one_complete_run(store: ArtifactStore, expected_runs: set[str]) -> str:
    manifest, data = read_published(store)  # raises unless every listed artifact verifies
    assert len(data) == len(manifest.artifacts) > 0
    assert manifest.run_id in expected_runs or manifest.run_id > max(expected_runs)
    newest = {(a.source_id, a.variable_id, a.kind) for a in manifest.artifacts}
    assert {(s, v) for s, v, _ in newest} == {(s, v) for s in ("ecmwf_ifs_ens", "gefs") for v in VARIABLES}
    return manifest.run_id


def _kill_at_random_moments(store_url: str, tmp_path: Path, kills: int, seed_value: int) -> None:
    store = ArtifactStore(store_url)
    log = tmp_path / "children.log"
    child = Child(store_url, log)
    child.expect("ready")
    started = time.monotonic()
    child.send()
    assert child.wait() == 0, log.read_text()
    run_length = time.monotonic() - started
    runs = {_assert_one_complete_run(store, {"0"})}
    rng = random.Random(seed_value)
    child = Child(store_url, log)
    for kill in range(kills):
        child.expect("ready")
        store.write_model(PRE_CANNED_POINTS_KEY, _points(kill))
        following = Child(store_url, log)  # its imports overlap this run
        child.send()
        time.sleep(rng.uniform(0.0, run_length * 1.1))
        child.process.send_signal(signal.SIGKILL)
        child.wait()
        runs.add(_assert_one_complete_run(store, runs))
        child = following
    child.expect("ready")
    store.write_model(PRE_CANNED_POINTS_KEY, _points(kills))
    child.send()
    assert child.wait() == 0, log.read_text()
    final = read_latest(store)
    assert final is not None and final.point_ids == sorted(p.point_id for p in _points(kills).points)
    _assert_one_complete_run(store, runs)


@pytest.mark.slow
def test_sigkill_at_random_moments_on_a_folder_store(
    store_url: str, tiny_registry: SourceRegistry, tmp_path: Path
) -> None:
    seed(store_url, tiny_registry, _points(99))
    _kill_at_random_moments(store_url, tmp_path, kills=8, seed_value=18)


@pytest.mark.slow
@pytest.mark.aws
def test_sigkill_at_random_moments_on_an_unversioned_bucket(
    s3_bucket: str, tiny_registry: SourceRegistry, tmp_path: Path
) -> None:
    url = f"s3://{s3_bucket}/store"
    seed(url, tiny_registry, _points(99))
    _kill_at_random_moments(url, tmp_path, kills=5, seed_value=1818)


def test_sigterm_before_the_commit_leaves_the_previous_run(
    store_url: str, tiny_registry: SourceRegistry, tmp_path: Path
) -> None:
    store = seed(store_url, tiny_registry, _points(0))
    first = run_extraction(RunOptions(store=store, scheduler="synchronous", progress=False, variables=VARIABLES))
    before = read_published(store)
    store.write_model(PRE_CANNED_POINTS_KEY, _points(1))
    child = Child(store_url, tmp_path / "child.log", "--pause-at", "build")
    child.expect("ready")
    child.send()
    child.expect("paused")  # tiles planned, nothing built or written yet
    child.process.send_signal(signal.SIGTERM)
    assert child.wait() == 128 + signal.SIGTERM
    assert read_published(store) == before
    status = store.read_model(EXTRACTION_STATUS_KEY, ExtractionStatus)
    assert status.outcome == "failed" and status.run_id == first.run_id
    assert [error.kind for error in status.errors] == ["interrupted"]
    assert "SIGTERM" in status.message and "previous run stays in force" in status.message


def test_sigterm_during_the_commit_finishes_it(store_url: str, tiny_registry: SourceRegistry, tmp_path: Path) -> None:
    store = seed(store_url, tiny_registry, _points(0))
    child = Child(store_url, tmp_path / "child.log", "--pause-at", "commit")
    child.expect("ready")
    child.send()
    child.expect("paused")  # every artifact written, latest.json not yet swapped
    child.process.send_signal(signal.SIGTERM)
    child.send("continue")
    assert child.wait() == 0
    manifest = read_latest(store)
    assert manifest is not None and manifest.point_ids == sorted(p.point_id for p in _points(0).points)
    _assert_one_complete_run(store, {manifest.run_id})


def test_cleanup_deletes_only_old_unlisted_artifacts_and_temporary_files(
    store_url: str, tiny_registry: SourceRegistry
) -> None:
    store = seed(store_url, tiny_registry, _points(0))
    options = RunOptions(store=store, scheduler="synchronous", progress=False, variables=VARIABLES)
    first = run_extraction(options)
    store.write_model(PRE_CANNED_POINTS_KEY, _points(1))
    second = run_extraction(options)
    assert first.manifest is not None and second.manifest is not None
    unlisted = {a.key for a in first.manifest.artifacts} - {a.key for a in second.manifest.artifacts}
    assert unlisted, "the second run wrote new content for its new point"
    leftover = Path(store.path("forecasts/source=gefs/points.parquet.tmp-dead"))
    leftover.write_bytes(b"half a file")
    assert cleanup(store).deleted == [], "young objects stay: a concurrent run may not have committed yet"
    days_later = read_latest(store).created_utc + timedelta(days=3)  # type: ignore[union-attr]
    os.utime(leftover, (0, 0))
    removed = cleanup(store, now=days_later)
    assert set(removed.deleted) == unlisted | {"forecasts/source=gefs/points.parquet.tmp-dead"}
    assert read_published(store)[0].run_id == second.run_id  # everything listed is still there
