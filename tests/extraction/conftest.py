"""Fixtures for extraction tests: a store seeded with the tiny sample registry and own points.

The tiny sample region is lat 39.0–40.5, lon −107…−105; the packaged default points lie outside
it, so tests write their own.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from forecast_core.init_store import init_store, load_registry_file
from forecast_core.points import Point, PreCannedPoints
from forecast_core.registry import CanonicalVariables, SourceRegistry
from forecast_core.store import ArtifactStore

WHEN = datetime(2026, 11, 20, tzinfo=UTC)
# (id, lat, lon): lon in 0…360 for bravo; "alpha-cabin" shares alpha's grid cell (derived once,
# stored for both); "far-away" is outside the sample region (all NaN)
POINTS = [
    ("alpha", 39.6, -106.3),
    ("alpha-cabin", 39.62, -106.28),
    ("bravo-east", 39.9, 253.6),
    ("charlie", 40.2, -105.4),
    ("far-away", 45.0, -100.0),
]


def make_point(point_id: str, latitude: float, longitude: float, enabled: bool = True) -> Point:
    return Point(
        point_id=point_id,
        point_name=point_id.replace("-", " ").title(),
        latitude=latitude,
        longitude=longitude,
        created_by="tests",
        created_utc=WHEN,
        updated_utc=WHEN,
        enabled=enabled,
    )


def make_points(specs: list[tuple[str, float, float]]) -> PreCannedPoints:
    return PreCannedPoints(generated_utc=WHEN, points=[make_point(*spec) for spec in specs])


@pytest.fixture(scope="session")
def tiny_registry(tiny_samples: Path) -> SourceRegistry:
    return load_registry_file(tiny_samples / "source_registry.json")


def seed(
    url: str,
    registry: SourceRegistry,
    points: PreCannedPoints | None = None,
    variables: CanonicalVariables | None = None,
) -> ArtifactStore:
    """A store at ``url`` whose config holds ``registry``, ``variables`` and ``points``."""
    store = ArtifactStore(url)
    init_store(store, registry, variables, points or make_points(POINTS), reset_points=True)
    return store


def row_groups_per_point(data: bytes) -> dict[str, int]:
    """How many row groups each point id's rows lie in (from the row-group statistics)."""
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    column = meta.schema.to_arrow_schema().get_field_index("point_id")
    table = pq.read_table(io.BytesIO(data), columns=["point_id"])
    counts: dict[str, int] = {}
    for point_id in sorted(set(table["point_id"].to_pylist())):
        counts[point_id] = sum(
            1
            for i in range(meta.num_row_groups)
            if meta.row_group(i).column(column).statistics.min
            <= point_id
            <= meta.row_group(i).column(column).statistics.max
        )
    return counts
