"""The app over a misbehaving S3 (the faulty proxy in front of moto): after a good load, failing
reads keep the last good data on show with a banner and never raise; the banner goes when the
store answers again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import numpy as np
import pytest

from forecast_core.store import ArtifactStore
from forecast_panel.app import ForecastApp
from forecast_panel.data import DataStore
from forecast_panel.frames import SourceSeries
from forecast_panel.state import OverviewState
from forecast_panel.views.status import FreshnessThresholds, banner, current_banner_text, status_view
from forecast_smoke.s3_faults import FaultPlan
from forecast_smoke.s3_proxy import S3FaultProxy
from tests.support import run_on_own_loop

pytestmark = pytest.mark.aws
BUCKET = "app-store"
EVERY_FAILURE = FaultPlan(rate=1.0, kinds=("slowdown", "internal", "reset", "truncate", "lost_response"), seed=4)
THRESHOLDS = FreshnessThresholds(yellow_after_hours=1e6, red_after_hours=2e6)  # the sample run is old


@dataclass
class FaultyStore:
    proxy: S3FaultProxy
    datastore: DataStore


def upload(folder: Path, endpoint: str, bucket: str) -> None:
    """Copy a local store to a new bucket, key for key."""
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=bucket)
    for path in sorted(folder.rglob("*")):
        if path.is_file() and ".tmp-" not in path.name and not path.name.startswith("."):
            client.put_object(Bucket=bucket, Key=path.relative_to(folder).as_posix(), Body=path.read_bytes())


@pytest.fixture
def faulty_store(app_store: Path, moto: str, quick_retries: None, quiet_moto_log: None) -> Iterator[FaultyStore]:
    upload(app_store, moto, BUCKET)
    with S3FaultProxy(moto) as proxy:
        # fewer client retries than in production (2 × 2 tries): a failing read fails sooner, the same way
        options = {
            "skip_instance_cache": True,
            "config_kwargs": {"retries": {"mode": "standard", "total_max_attempts": 2}},
        }
        store = ArtifactStore(f"s3://{BUCKET}", endpoint_url=proxy.url, storage_options=options)
        store.fs.retries = 2
        # latest.json is re-checked where the test forces it (the TTL never runs out here)
        yield FaultyStore(proxy, DataStore(store, manifest_ttl_seconds=3600.0))


def _shown(state: OverviewState) -> list[tuple[str, str, list[float]]]:
    """Per shown panel and source: its medians (missing as -999)."""
    return [
        (variable_id, item.source_id, np.round(np.nan_to_num(_medians(item), nan=-999.0), 4).tolist())
        for series, _, variable_id in state.frames().shown
        for item in series
    ]


def _medians(item: SourceSeries) -> np.ndarray:
    return np.asarray(item.summary.get("median", []), dtype=float)


def test_failing_reads_keep_the_last_good_data_with_a_banner(faulty_store: FaultyStore) -> None:
    datastore, proxy = faulty_store.datastore, faulty_store.proxy
    state = OverviewState(datastore)
    first_point, other_point = list(state.point_options().values())[:2]
    state.selection.param.update(point=first_point, panels=["temperature"])
    good = _shown(state)
    assert good and all(values for _, _, values in good)
    assert current_banner_text(datastore, THRESHOLDS) is None
    run_id = datastore.run_id
    app = ForecastApp(datastore, thresholds=THRESHOLDS)  # a session's app, as the server builds it
    assert not app.banner.visible

    proxy.plan = EVERY_FAILURE
    assert datastore.manifest(force=True) is not None and datastore.run_id == run_id  # the manifest read before stays
    assert _shown(state) == good  # the same selection: the same data, from the run-scoped cache
    health = datastore.health()
    assert not health.ok and health.error
    text = current_banner_text(datastore, THRESHOLDS)
    assert text is not None and "cannot be reached" in text and "showing the data loaded at" in text
    alert = banner(datastore, THRESHOLDS)
    assert alert.visible and "cannot be reached" in str(alert.object)
    run_on_own_loop(app.refresh_banner())  # the session's periodic check
    assert app.banner.visible and app.banner.object == alert.object

    state.selection.point = other_point  # another point of the artifacts read before: served from their cached bytes
    assert all(values for _, _, values in _shown(state))
    state.selection.param.update(panels=["precipitation"], extras=["totals"])  # running totals: never read before
    frames = state.frames()  # artifacts never read before: no data, a note, no exception
    assert frames.shown and all(_medians(item).size == 0 for series, _, _ in frames.shown for item in series)
    assert any("cannot be read right now" in note for note in frames.notes)
    status_view(datastore, THRESHOLDS)  # the status tab renders from what was read before
    assert sum(proxy.stats().faults.values()) > 0

    proxy.plan = FaultPlan()
    datastore.manifest(force=True)
    assert current_banner_text(datastore, THRESHOLDS) is None and datastore.health().ok
    run_on_own_loop(app.refresh_banner())
    assert not app.banner.visible
    recovered = _shown(state)
    assert recovered and all(values for _, _, values in recovered)
    state.selection.param.update(panels=["temperature"], extras=[], point=first_point)
    assert _shown(state) == good


def test_a_store_that_fails_from_the_start_shows_a_banner_not_a_traceback(faulty_store: FaultyStore) -> None:
    faulty_store.proxy.plan = EVERY_FAILURE
    datastore = faulty_store.datastore
    state = OverviewState(datastore)
    assert all(_medians(item).size == 0 for series, _, _ in state.frames().shown for item in series)
    text = current_banner_text(datastore, THRESHOLDS)
    assert text is not None and "no forecast could be loaded yet" in text
