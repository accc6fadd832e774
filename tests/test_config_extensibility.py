"""Adding a variable or a source that needs no new kind of derivation is a config edit only.

The test copies the packaged config, adds `rainfall` (precipitation that is not snow, built from
existing node kinds) and a third source (the GEFS sample as a plain Zarr v3 store), runs the real
`forecast-panel extract`, and finds the new variable's and source's artifacts in the manifest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from extraction.sample_sources.cli import write_samples
from forecast_core import defaults
from forecast_core.layout import LATEST_MANIFEST_KEY
from forecast_core.points import Point, PreCannedPoints
from forecast_core.registry import SourceRegistry
from forecast_core.status import RunManifest
from forecast_core.store import ArtifactStore
from tests.conftest import SAMPLE_NEWEST_INIT

RAINFALL = {
    "variable_id": "rainfall",
    "display_name": "Rainfall",
    "description": "Precipitation in the step that is not snow.",
    "native_units": "mm",
    "display_units": ["mm", "in"],
    "kind": "per_step",
    "derivations": {
        "gefs": {
            "op": "multiply",
            "factors": [
                {"op": "step_amount", "of": {"op": "field", "variable": "precipitation_surface"}},
                {
                    "op": "linear",
                    "of": {"op": "clip", "of": {"op": "field", "variable": "categorical_snow_surface"}, "maximum": 1},
                    "scale": -1.0,
                    "offset": 1.0,
                },
            ],
        },
        "ecmwf_ifs_ens": {
            "op": "multiply",
            "factors": [
                {"op": "step_amount", "of": {"op": "field", "variable": "precipitation_surface"}},
                {
                    "op": "in_codes",
                    "of": {"op": "field", "variable": "categorical_precipitation_type_surface"},
                    "codes": [1],
                },
            ],
        },
    },
}


def test_new_variable_and_new_source_need_only_config(tiny_samples: Path, tmp_path: Path) -> None:
    zarr_samples = tmp_path / "zarr-samples"
    write_samples(str(zarr_samples), size="tiny", newest_init=SAMPLE_NEWEST_INIT, store_format="zarr")
    zarr_gefs = SourceRegistry.model_validate_json((zarr_samples / "source_registry.json").read_bytes()).get("gefs")

    registry = json.loads((tiny_samples / "source_registry.json").read_text())
    extra_source = json.loads(zarr_gefs.model_dump_json())
    extra_source["source_id"] = "gefs_zarr"
    extra_source["display_name"] = "GEFS (plain Zarr copy)"
    registry["sources"].append(extra_source)
    registry_file = tmp_path / "registry.json"
    registry_file.write_text(json.dumps(registry))

    variables = json.loads(defaults.canonical_variables().model_dump_json())
    variables["variables"] = [v for v in variables["variables"] if v["variable_id"] == "precipitation"] + [RAINFALL]
    for variable in variables["variables"]:
        variable["derivations"]["gefs_zarr"] = variable["derivations"]["gefs"]
    variables_file = tmp_path / "variables.json"
    variables_file.write_text(json.dumps(variables))

    points = PreCannedPoints(
        generated_utc=defaults.default_points().generated_utc,
        points=[
            Point(
                point_id="ridge",
                point_name="Ridge",
                latitude=39.6,
                longitude=-106.1,
                created_by="test",
                created_utc=defaults.default_points().generated_utc,
                updated_utc=defaults.default_points().generated_utc,
            )
        ],
    )
    points_file = tmp_path / "points.json"
    points_file.write_bytes(points.to_json_bytes())

    store_url = str(tmp_path / "store")
    cli = [sys.executable, "-m", "forecast_cli"]
    env = {**os.environ, "ICECHUNK_LOG": "error"}
    seed = [*cli, "init-store", "--store", store_url, "--registry", str(registry_file)]
    seed += ["--variables", str(variables_file), "--points", str(points_file)]
    subprocess.run(seed, check=True, env=env, capture_output=True)
    extract = subprocess.run(
        [*cli, "extract", "--store", store_url, "--scheduler", "synchronous", "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert extract.returncode == 0, extract.stderr[-3000:]

    store = ArtifactStore(store_url)
    manifest = store.read_model(LATEST_MANIFEST_KEY, RunManifest)
    assert {s.source_id for s in manifest.sources} == {"gefs", "ecmwf_ifs_ens", "gefs_zarr"}
    for source_id in ("gefs", "ecmwf_ifs_ens", "gefs_zarr"):
        assert manifest.artifact(source_id, "rainfall", "ensemble_summary", date(2026, 11, 24)) is not None

    def members(source_id: str, variable_id: str) -> np.ndarray:
        artifact = manifest.artifact(source_id, variable_id, "points", date(2026, 11, 24))
        assert artifact is not None
        table = pq.read_table(store.open(artifact.key)).to_pandas()
        return table.sort_values(["ensemble_member", "lead_hours"])["value"].to_numpy(dtype=float)

    rain, precipitation = members("gefs", "rainfall"), members("gefs", "precipitation")
    finite = np.isfinite(precipitation)
    assert (rain[finite] <= precipitation[finite] + 1e-6).all() and rain[finite].sum() > 0
    # the plain-Zarr copy of the same sample store gives the same numbers
    np.testing.assert_allclose(members("gefs_zarr", "rainfall"), rain, equal_nan=True)
