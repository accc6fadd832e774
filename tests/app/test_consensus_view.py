"""The consensus in the meteogram: its boxes and strip rows against an independent computation
from the member tables, its legend and the note on what it holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from forecast_core.published import read_artifact
from forecast_panel.data import DataStore
from forecast_panel.selection import MeteogramSelection
from forecast_panel.state import OverviewState


@pytest.fixture
def state(app_store: Path) -> OverviewState:
    state = OverviewState(DataStore(str(app_store)), MeteogramSelection())
    state.selection.param.update(boxes="steps", times="utc")
    state.selection.sources = [*state.selection.sources, "consensus"]
    return state


def members(store: DataStore, source_id: str, variable_id: str, point_id: str) -> tuple[np.ndarray, np.ndarray]:
    """(valid times, values (time, member)) of a point straight from the artifact."""
    manifest = store.manifest()
    assert manifest is not None
    artifact = manifest.artifact(source_id, variable_id, "points")
    assert artifact is not None
    frame = pq.read_table(pa.BufferReader(read_artifact(store.store, artifact))).to_pandas()
    frame = frame[frame.point_id == point_id]
    table = frame.pivot(index="valid_time", columns="ensemble_member", values="value").sort_index()
    return table.index.tz_convert(None).to_numpy("datetime64[ns]"), table.to_numpy(dtype="float64")


def test_consensus_is_offered_and_drawn_with_its_own_colour(state: OverviewState) -> None:
    assert "consensus" in state.selection.param.sources.objects
    frames = state.frames()
    assert ("Consensus", "#4d4d4d") in frames.legend
    note = next(text for text in frames.notes if text.startswith("Consensus:"))
    assert "equal weight per source" in note and "GEFS" in note and "ENS" in note
    assert "Consensus" in frames.strip_axis.ticks.values()
    assert set(frames.table["source_id"]) >= {"consensus", "gefs", "ecmwf_ifs_ens"}


def test_consensus_boxes_equal_replicated_members(state: OverviewState) -> None:
    store, point = state.datastore, str(state.selection.point)
    gefs_times, gefs = members(store, "gefs", "temperature_2m", point)
    ifs_times, ifs = members(store, "ecmwf_ifs_ens", "temperature_2m", point)
    shared = np.intersect1d(gefs_times, ifs_times)
    frames = state.frames()
    panel = next(item for item in frames.panels if item.panel_id == "temperature")
    consensus_code = frames.legend.index(("Consensus", "#4d4d4d"))
    boxes = panel.steps.columns
    mine = boxes["k"] == consensus_code
    checked = 0
    for time, median in zip(boxes["t"][mine], boxes["median"][mine], strict=True):
        g = gefs[np.searchsorted(gefs_times, time)]
        i = ifs[np.searchsorted(ifs_times, time)]
        g, i = g[np.isfinite(g)], i[np.isfinite(i)]
        sample = np.concatenate([np.repeat(g, i.size), np.repeat(i, g.size)])  # equal weight per source
        assert time in shared
        assert median == pytest.approx(np.quantile(sample, 0.5, method="inverted_cdf"), abs=1e-4)
        checked += 1
    assert checked > 10
