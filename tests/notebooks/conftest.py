"""A store like the demo's, built once per session for the notebooks and the exploration API.

Like ``scripts/dev demo`` (on the tiny samples): the default points inside the sample region,
``extract --init previous`` then ``extract`` (so run-to-run comparisons have a previous init and
the manifests a chain) and an inventory after each (so the storage trend has two rows). The
steps run in-process through the CLI's own ``main``. Tests read it, never write it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from extraction.sample_sources.writer import TINY_REGION
from forecast_cli.main import main
from forecast_core.defaults import default_points
from forecast_core.init_store import init_store, load_registry_file
from forecast_core.points import PreCannedPoints
from forecast_core.store import ArtifactStore


def _inside_tiny_region() -> PreCannedPoints:
    defaults = default_points()
    inside = [
        point
        for point in defaults.points
        if TINY_REGION.south <= point.latitude <= TINY_REGION.north
        and TINY_REGION.west <= point.longitude <= TINY_REGION.east
    ]
    return defaults.replace(points=inside)


@pytest.fixture(scope="session")
def demo_like_store(tiny_samples: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("notebook-store") / "store"
    registry = load_registry_file(tiny_samples / "source_registry.json")
    init_store(ArtifactStore(str(root)), registry, points=_inside_tiny_region())
    for step in (
        ["extract", "--store", str(root), "--init", "previous", "--no-progress"],
        ["inventory", "--store", str(root)],
        ["extract", "--store", str(root), "--no-progress"],
        ["inventory", "--store", str(root)],
    ):
        assert main(step) == 0, step
    return root
