"""extraction.read_cost: requests and bytes counted under Zarr, one point at a time versus by tile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from extraction.read_cost import CountedSource, chunk_layout, compare_reads
from extraction.sample_sources.cli import write_samples
from extraction.sources import open_source
from forecast_core.defaults import default_points
from forecast_core.init_store import load_registry_file
from tests.conftest import SAMPLE_NEWEST_INIT

# default points inside the tiny sample region; all of them fall in one GEFS chunk tile
INSIDE = [p for p in default_points().points if 39.0 <= p.latitude <= 40.5 and -107.0 <= p.longitude <= -105.0]


@pytest.fixture(scope="module")
def zarr_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zarr-tiny")
    write_samples(
        str(out),
        size="tiny",
        newest_init=SAMPLE_NEWEST_INIT,
        store_format="zarr",
        dataset_ids=("noaa-gefs-forecast-35-day",),
    )
    return out


@pytest.mark.parametrize("store_format", ["icechunk", "zarr"])
def test_counted_reads_return_the_plain_values(store_format: str, tiny_samples: Path, zarr_tiny: Path) -> None:
    folder = tiny_samples if store_format == "icechunk" else zarr_tiny
    entry = load_registry_file(folder / "source_registry.json").get("gefs")
    counted = CountedSource(entry)
    where = {"init_time": 1, "latitude": 200, "longitude": 300}
    values, cost = counted.read("temperature_2m", **where)
    plain = open_source(entry)["temperature_2m"].isel(where).values
    np.testing.assert_array_equal(values, plain)
    assert values.shape == (5, 181)
    # sharded: the shard index, then the point's inner chunks along lead time (one coalesced range)
    assert cost.requests >= 2 and cost.bytes_read > 0
    assert cost.values_bytes == values.nbytes


def test_chunk_layout_reports_the_templates_chunks(tiny_samples: Path) -> None:
    counted = CountedSource(load_registry_file(tiny_samples / "source_registry.json").get("gefs"))
    layout = chunk_layout(counted.dataset["temperature_2m"]).set_index("dimension")
    assert layout.loc["lead_time", "inner_chunk"] == 64 and layout.loc["lead_time", "chunks"] == 3
    assert layout.loc["latitude", "inner_chunk"] == 17 and layout.loc["longitude", "inner_chunk"] == 16
    assert layout.loc["lead_time", "shard"] == 192


def test_points_sharing_a_tile_cost_one_read_together(tiny_samples: Path) -> None:
    counted = CountedSource(load_registry_file(tiny_samples / "source_registry.json").get("gefs"))
    table = compare_reads(counted, "temperature_2m", INSIDE).set_index("strategy")
    alone, tiled = table.loc["one point at a time"], table.loc["whole chunk tiles (the pipeline)"]
    assert alone["reads"] == len(INSIDE) and tiled["reads"] == 1
    assert alone["bytes_read"] == len(INSIDE) * tiled["bytes_read"]
    assert alone["requests"] == len(INSIDE) * tiled["requests"]
    assert alone["values_bytes"] == tiled["values_bytes"] == len(INSIDE) * 5 * 181 * 4


def test_points_outside_the_grid_are_named(tiny_samples: Path) -> None:
    counted = CountedSource(load_registry_file(tiny_samples / "source_registry.json").get("gefs"))
    far = INSIDE[0].model_copy(update={"latitude": 95.0})
    with pytest.raises(ValueError, match=INSIDE[0].point_name):
        compare_reads(counted, "temperature_2m", [far])


def test_a_point_is_read_at_its_nearest_cell_of_the_newest_init(tiny_samples: Path) -> None:
    counted = CountedSource(load_registry_file(tiny_samples / "source_registry.json").get("gefs"))
    trace, cost, cell = counted.read_point("temperature_2m", INSIDE[0])
    assert abs(cell.latitude - INSIDE[0].latitude) <= 0.125 and abs(cell.longitude - INSIDE[0].longitude) <= 0.125
    assert dict(trace.sizes) == {"ensemble_member": 5, "lead_time": 181}
    assert trace.init_time.values == counted.dataset.init_time.values[-1]
    assert np.isfinite(trace.values).any() and cost.values_bytes == trace.values.nbytes
