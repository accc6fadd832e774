"""The same artifacts from a multi-process LocalCluster as from the in-process path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extraction.pipeline import RunOptions, run_extraction
from forecast_core.registry import SourceRegistry
from tests.extraction.conftest import POINTS, seed

pytestmark = pytest.mark.dask


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as dask_client,
    ):
        yield dask_client


def test_cluster_and_in_process_runs_publish_identical_bytes(
    client: Any, tiny_registry: SourceRegistry, tmp_path: Path
) -> None:
    local = seed(str(tmp_path / "in-process"), tiny_registry)
    distributed = seed(str(tmp_path / "cluster"), tiny_registry)
    variables = ["temperature_2m", "snowfall_total"]
    expected = run_extraction(RunOptions(store=local, scheduler="synchronous", progress=False, variables=variables))
    got = run_extraction(RunOptions(store=distributed, client=client, progress=False, variables=variables))
    assert expected.manifest is not None and got.manifest is not None
    assert got.outcome == expected.outcome == "partial"  # the far-away point has no data
    assert {(e.kind, e.point_id, e.variable_id) for e in got.errors} == {
        (e.kind, e.point_id, e.variable_id) for e in expected.errors
    }
    assert len(expected.manifest.artifacts) == 2 * 2 * 3
    assert {a.key: a.sha256 for a in got.manifest.artifacts} == {a.key: a.sha256 for a in expected.manifest.artifacts}
    assert got.manifest.point_ids == sorted(p[0] for p in POINTS)  # enabled points, far-away included
    workers = client.run(lambda: "ok")
    assert len(workers) == 2
