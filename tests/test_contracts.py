"""The shared contracts: layout keys, models, JSON Schemas, Parquet schemas, units, points."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError

from forecast_core import defaults, layout
from forecast_core.json_schemas import CONTRACT_MODELS, committed_schema, schema_for
from forecast_core.parquet_schemas import REQUIRED_SCHEMAS, SchemaMismatch, validate_schema
from forecast_core.points import (
    PointPayload,
    PointUpdate,
    PreCannedPoints,
    clean_point_name,
    great_circle_km,
    name_dedupe_key,
    normalize_longitude,
)
from forecast_core.registry import CanonicalVariables, SourceRegistry, node_fields
from forecast_core.status import ExtractionStatus, RunManifest
from forecast_core.units import UnitError, convert, convert_difference


def test_artifact_keys_follow_the_design_layout() -> None:
    digest = "ab" * 32
    key = layout.artifact_key("gefs", "temperature_2m", date(2026, 11, 24), "points", digest)
    assert key == f"forecasts/source=gefs/variable=temperature_2m/init_date=2026-11-24/points.{digest}.parquet"
    ref = layout.parse_artifact_key(key)
    assert (ref.source_id, ref.variable_id, ref.init_date, ref.kind, ref.sha256) == (
        "gefs",
        "temperature_2m",
        date(2026, 11, 24),
        "points",
        digest,
    )
    legacy = layout.parse_artifact_key(
        "forecasts/source=gefs/variable=temperature_2m/init_date=2026-11-24/points.parquet"
    )
    assert (legacy.kind, legacy.sha256) == ("points", None), "manifests from before content addressing still parse"
    with pytest.raises(layout.LayoutError, match="sha256"):
        layout.artifact_key("gefs", "temperature_2m", date(2026, 11, 24), "points", "not-a-digest")
    assert layout.run_manifest_key("20261124T070000Z") == "manifests/run_id=20261124T070000Z.json"
    assert layout.LATEST_MANIFEST_KEY == "manifests/latest.json"
    assert layout.EXTRACTION_STATUS_KEY == "dashboard/status/extraction_status.json"
    assert layout.INVENTORY_STATUS_KEY == "dashboard/status/inventory_status.json"
    assert layout.PRE_CANNED_POINTS_KEY == "dashboard/config/pre_canned_points.json"
    assert layout.extraction_log_key("20261124T070000Z") == "logs/extraction/20261124T070000Z.jsonl"


@pytest.mark.parametrize("bad", ["../etc", "GEFS", "a/b", "", "x" * 65])
def test_layout_rejects_unsafe_identifiers(bad: str) -> None:
    with pytest.raises(layout.LayoutError):
        layout.artifact_key(bad, "temperature_2m", date(2026, 1, 1), "points", "0" * 64)


def test_run_ids_round_trip() -> None:
    moment = datetime(2026, 11, 24, 7, 5, 9, tzinfo=UTC)
    assert layout.parse_run_id(layout.make_run_id(moment)) == moment
    with pytest.raises(layout.LayoutError):
        layout.parse_run_id("2026-11-24")


@pytest.mark.parametrize("name", sorted(CONTRACT_MODELS))
def test_committed_json_schema_matches_model(name: str) -> None:
    assert committed_schema(name) == schema_for(name), (
        f"{name}.schema.json drifted from its model: run `python -m forecast_core.json_schemas`"
    )


@pytest.mark.parametrize("kind", layout.ARTIFACT_KINDS)
def test_committed_parquet_schema_matches_the_code(kind: layout.ArtifactKind) -> None:
    from forecast_core import parquet_schemas

    assert parquet_schemas.committed(kind) == parquet_schemas.describe(kind), (
        f"parquet_schemas/{kind}.json drifted from the code: run `python -m forecast_core.parquet_schemas`"
    )


def test_committed_parquet_schemas_keep_every_required_column_of_the_design() -> None:
    """Columns may be added, never dropped or renamed: the design's columns stay required."""
    from forecast_core import parquet_schemas

    design = {
        "points": {"source_id", "variable_id", "point_id", "init_time", "valid_time", "lead_hours",
                   "ensemble_member", "value"},
        "ensemble_summary": {"source_id", "variable_id", "point_id", "init_time", "valid_time", "lead_hours",
                             "min", "q10", "q25", "median", "q75", "q90", "max", "member_count"},
        "map_summary": {"source_id", "variable_id", "init_time", "valid_time", "lead_hours", "latitude",
                        "longitude", "median"},
    }  # fmt: skip
    for kind, columns in design.items():
        required = {column["name"] for column in parquet_schemas.committed(kind)["required"]}  # type: ignore[arg-type]
        assert columns <= required, f"{kind} dropped {sorted(columns - required)}"


def test_design_examples_validate() -> None:
    status = ExtractionStatus.model_validate_json(
        json.dumps(
            {
                "last_successful_extract_utc": "2026-02-16T20:30:00Z",
                "run_id": "20260216T203000Z",
                "sources_processed": ["gefs", "ecmwf_ifs_ens"],
                "variables_processed": ["temperature_2m", "precipitation"],
                "errors": [],
            }
        )
    )
    assert status.last_successful_extract_utc == datetime(2026, 2, 16, 20, 30, tzinfo=UTC)
    payload = PointPayload.model_validate_json(
        '{"point_name": "My Cabin", "latitude": 44.123, "longitude": -110.456, "created_by": "owner"}'
    )
    assert payload.enabled and payload.tags == []


def test_models_are_frozen_and_strict() -> None:
    payload = PointPayload(point_name="Cabin", latitude=1.0, longitude=2.0, created_by="me")
    with pytest.raises(ValidationError):
        payload.point_name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Extra inputs"):
        PointPayload.model_validate({"point_name": "a", "latitude": 1.0, "longitude": 1.0, "created_by": "x", "z": 1})
    with pytest.raises(ValidationError):
        PointPayload.model_validate({"point_name": "a", "latitude": "1", "longitude": 1.0, "created_by": "x"})
    with pytest.raises(ValidationError):
        ExtractionStatus.model_validate_json(
            '{"last_successful_extract_utc": "2026-02-16T20:30:00", "run_id": null, "sources_processed": [],'
            ' "variables_processed": [], "errors": []}'
        )  # naive datetime: not UTC


@pytest.mark.parametrize(
    ("latitude", "longitude", "message"),
    [(91.0, 0.0, "less than or equal to 90"), (0.0, 400.0, "less than or equal to 360"), (float("nan"), 0.0, "finite")],
)
def test_payload_rejects_bad_coordinates(latitude: float, longitude: float, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PointPayload(point_name="x", latitude=latitude, longitude=longitude, created_by="me")


def test_longitudes_from_0_360_are_normalised() -> None:
    assert PointPayload(point_name="x", latitude=0.0, longitude=250.5, created_by="me").longitude == -109.5
    assert normalize_longitude(180.0) == -180.0
    assert normalize_longitude(359.75) == -0.25
    assert normalize_longitude(360.0) == 0.0 and normalize_longitude(-0.0) == 0.0
    just_below_a_tie = 0.125 - 2**-55  # a modulo round trip through 180 would round it onto the tie
    assert normalize_longitude(just_below_a_tie) == just_below_a_tie
    assert normalize_longitude(200.1) == 200.1 - 360.0


def test_point_names_are_cleaned_and_hostile_ones_rejected() -> None:
    assert clean_point_name("  My \t Cabin  ".replace("\t", " ")) == "My Cabin"
    assert clean_point_name("ｍｙ ｃａｂｉｎ") == "my cabin"  # full-width folded by NFKC
    for hostile in ["", "   ", "a\x00b", "a\u202eb", "x" * 81, "line\nbreak"]:
        with pytest.raises(ValueError):
            clean_point_name(hostile)
    # markup is allowed as inert text; rendering escapes it
    assert clean_point_name("<script>alert(1)</script>") == "<script>alert(1)</script>"


def test_lookalike_names_share_a_dedupe_key() -> None:
    assert name_dedupe_key("My Cabin") == name_dedupe_key("MY CABIN")
    assert name_dedupe_key("My Cabin") == name_dedupe_key("Мy Сabin")  # Cyrillic М and С
    assert name_dedupe_key("Café") == name_dedupe_key("Cafe")
    assert name_dedupe_key("Ridge – North") == name_dedupe_key("Ridge - North")
    assert name_dedupe_key("Cabin A") != name_dedupe_key("Cabin B")


def test_point_update_needs_a_change() -> None:
    with pytest.raises(ValidationError):
        PointUpdate()
    assert PointUpdate(enabled=False).enabled is False


def test_great_circle_distance() -> None:
    assert great_circle_km(0, 0, 0, 1) == pytest.approx(111.2, abs=0.1)
    assert great_circle_km(40, 179.9, 40, -179.9) < 20


def test_packaged_config_is_valid_and_consistent() -> None:
    registry = defaults.production_source_registry()
    variables = defaults.canonical_variables()
    points = defaults.default_points()
    assert {s.source_id for s in registry.sources} == {"gefs", "ecmwf_ifs_ens"}
    assert {s.dataset_id for s in registry.sources} == {
        "noaa-gefs-forecast-35-day",
        "ecmwf-ifs-ens-forecast-15-day-0-25-degree",
    }
    for variable in variables.variables:
        assert set(variable.derivations) == {"gefs", "ecmwf_ifs_ens"}, variable.variable_id
    assert variables.output_variable_ids() == [
        "temperature_2m",
        "precipitation",
        "precipitation_total",
        "snowfall",
        "snowfall_total",
        "wind_speed_10m",
    ]
    assert node_fields(variables.get("wind_speed_10m").derivations["gefs"]) == ["wind_u_10m", "wind_v_10m"]
    assert len(points.enabled_points()) == len(points.points) - 1


def test_duplicate_ids_in_config_are_rejected() -> None:
    registry = json.loads(defaults.production_source_registry().model_dump_json())
    registry["sources"].append(registry["sources"][0])
    with pytest.raises(ValidationError, match="duplicate source ids"):
        SourceRegistry.model_validate_json(json.dumps(registry))
    points = json.loads(defaults.default_points().model_dump_json())
    points["points"].append(points["points"][0])
    with pytest.raises(ValidationError, match="duplicate point ids"):
        PreCannedPoints.model_validate_json(json.dumps(points))


def test_derivations_reject_unknown_ops() -> None:
    document = json.loads(defaults.canonical_variables().model_dump_json())
    document["variables"][0]["derivations"]["gefs"] = {"op": "eval", "expression": "__import__('os')"}
    with pytest.raises(ValidationError):
        CanonicalVariables.model_validate_json(json.dumps(document))


def test_units_convert_exactly() -> None:
    np.testing.assert_allclose(convert([0.0, 100.0, np.nan], "degC", "degF"), [32.0, 212.0, np.nan])
    np.testing.assert_allclose(convert([25.4], "mm", "in"), [1.0])
    np.testing.assert_allclose(convert([10.0], "m/s", "km/h"), [36.0])
    np.testing.assert_allclose(convert([1852.0 / 3600.0], "m/s", "kt"), [1.0])
    np.testing.assert_allclose(convert_difference([1.0], "degC", "degF"), [1.8])
    with pytest.raises(UnitError):
        convert([1.0], "mm", "degC")


def test_parquet_schemas_allow_added_but_not_dropped_columns() -> None:
    for kind, schema in REQUIRED_SCHEMAS.items():
        validate_schema(schema.append(pa.field("extra", pa.float64())), kind)
        with pytest.raises(SchemaMismatch, match="missing column"):
            validate_schema(schema.remove(0), kind)
    assert REQUIRED_SCHEMAS["points"].names == [
        "source_id",
        "variable_id",
        "point_id",
        "point_name",
        "init_time",
        "valid_time",
        "lead_hours",
        "ensemble_member",
        "value",
        "units_native",
    ]
    assert REQUIRED_SCHEMAS["ensemble_summary"].names[6:] == [
        "min",
        "q10",
        "q25",
        "median",
        "q75",
        "q90",
        "max",
        "member_count",
    ]


def test_manifest_rejects_key_that_disagrees_with_fields() -> None:
    artifact = {
        "key": "forecasts/source=gefs/variable=precipitation/init_date=2026-11-24/points.parquet",
        "kind": "points",
        "source_id": "gefs",
        "variable_id": "temperature_2m",
        "init_date": "2026-11-24",
        "size_bytes": 10,
        "sha256": "0" * 64,
        "row_count": 1,
    }
    document = {
        "run_id": "20261124T070000Z",
        "created_utc": "2026-11-24T07:00:00Z",
        "sources": [],
        "point_ids": [],
        "point_set_hash": "0" * 64,
        "artifacts": [artifact],
    }
    with pytest.raises(ValidationError, match="disagrees"):
        RunManifest.model_validate_json(json.dumps(document))


def test_nearest_cell_on_the_quarter_degree_grid() -> None:
    from forecast_core.grid import DYNAMICAL_QUARTER_DEGREE, OutsideGrid, nearest_cell

    cell = nearest_cell(DYNAMICAL_QUARTER_DEGREE, 39.99, -105.29)
    assert (cell.latitude, cell.longitude) == (40.0, -105.25)
    assert (cell.latitude_index, cell.longitude_index) == (200, 299)
    assert cell.distance_km < 20
    from_0_360 = nearest_cell(DYNAMICAL_QUARTER_DEGREE, 39.99, 360 - 105.29)
    assert (from_0_360.latitude_index, from_0_360.longitude_index) == (200, 299)
    assert from_0_360.distance_km == pytest.approx(cell.distance_km)
    east_edge = nearest_cell(DYNAMICAL_QUARTER_DEGREE, 10.0, 179.95)  # as xarray: the edge, no wrap
    assert east_edge.longitude == 179.75 and east_edge.longitude_index == 1439
    antimeridian = nearest_cell(DYNAMICAL_QUARTER_DEGREE, 10.0, 180.0)  # 180 is −180 in the store
    assert antimeridian.longitude == -180.0 and antimeridian.longitude_index == 0
    with pytest.raises(OutsideGrid):
        nearest_cell(DYNAMICAL_QUARTER_DEGREE, 91.0, 0.0)


def test_emf_line_is_cloudwatch_shaped_with_one_dimension_casing() -> None:
    import io

    from forecast_core.observability import EXTRACTION_SUCCESS, emit_metrics

    stream = io.StringIO()
    line = emit_metrics({EXTRACTION_SUCCESS: (1.0, "Count")}, service="extraction", dimensions={"source": "gefs"},
                        stream=stream)  # fmt: skip
    assert stream.getvalue() == line + "\n"
    document = json.loads(line)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "ForecastPanel"
    assert directive["Metrics"] == [{"Name": "ExtractionSuccess", "Unit": "Count"}]
    assert sorted(directive["Dimensions"][0]) == ["service", "source"]
    assert document["ExtractionSuccess"] == [1.0]  # Powertools writes every value as a list
    assert (document["service"], document["source"]) == ("extraction", "gefs")


def test_lat_lon_box_parses_bounds_and_surrounds_points() -> None:
    from forecast_core.grid import LatLonBox

    assert LatLonBox.parse("36.5,41.5,-109.5,-103.5") == LatLonBox(36.5, 41.5, -109.5, -103.5)
    assert LatLonBox.around([(39.0, -106.0), (40.5, -105.0), (39.5, -107.0)]) == LatLonBox(39.0, 40.5, -107.0, -105.0)
    for bad in ["1,2,3", "41,36,-109,-103", "0,1,-200,0"]:
        with pytest.raises(ValueError):
            LatLonBox.parse(bad)


def test_long_messages_are_cut_where_they_are_stored_not_by_every_writer() -> None:
    from forecast_core.status import ExtractionError

    error = ExtractionError(kind="internal", message="x" * 5000)
    assert len(error.message) == 2000 and error.message.endswith("…")
    assert ExtractionError(kind="internal", message="short").message == "short"


def test_one_identifier_rule_for_layout_models_and_the_api() -> None:
    from points_api.errors import NotFound
    from points_api.repository import check_point_id

    for good in ("gefs", "my-cabin_2"):
        assert layout.check_identifier(good) == good == check_point_id(good)
    for bad in ("Gefs", "-x", "a" * 65, "../etc"):
        with pytest.raises(layout.LayoutError):
            layout.check_identifier(bad)
        with pytest.raises(NotFound):
            check_point_id(bad)
        with pytest.raises(ValidationError):
            ExtractionStatus.model_validate(
                {"last_successful_extract_utc": None, "run_id": None, "sources_processed": [bad],
                 "variables_processed": [], "errors": []}
            )  # fmt: skip
