"""Bad config: a clear error naming the file and the field, nothing published, the run in force kept."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from extraction.pipeline import RunOptions, run_extraction
from forecast_cli.main import main
from forecast_core.layout import (
    CANONICAL_VARIABLES_KEY,
    EXTRACTION_STATUS_KEY,
    LATEST_MANIFEST_KEY,
    PRE_CANNED_POINTS_KEY,
    SOURCE_REGISTRY_KEY,
)
from forecast_core.published import read_published
from forecast_core.registry import SourceRegistry
from forecast_core.status import ExtractionStatus
from tests.extraction.conftest import make_points, seed

Edit = Callable[[Any], Any]


def _set(path: tuple[Any, ...], value: Any) -> Edit:
    def edit(document: Any) -> Any:
        target = document
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        return document

    return edit


def _huge_points(document: Any) -> Any:
    point = document["points"][0]
    document["points"] = [{**point, "point_id": f"p{i}", "point_name": f"P {i}" + "x" * 100} for i in range(70_000)]
    return document


CASES = [
    ("registry-not-json", SOURCE_REGISTRY_KEY, None, ["source_registry.json", "Invalid JSON"]),
    ("registry-wrong-type", SOURCE_REGISTRY_KEY, _set(("sources",), "gefs"), ["source_registry.json", "sources: "]),
    ("registry-unknown-field", SOURCE_REGISTRY_KEY, _set(("surprise",), 1), ["surprise: Extra inputs"]),
    (
        "unknown-derivation-op",
        CANONICAL_VARIABLES_KEY,
        _set(("variables", 0, "derivations", "gefs", "op"), "cube_root"),
        ["canonical_variables.json", "variables.0.derivations.gefs", "'cube_root'"],
    ),
    (
        "latitude-as-text",
        PRE_CANNED_POINTS_KEY,
        _set(("points", 0, "latitude"), "39.6"),
        ["pre_canned_points.json", "points.0.latitude"],
    ),
    ("points-too-large", PRE_CANNED_POINTS_KEY, _huge_points, ["pre_canned_points.json", "MiB; at most 16 MiB"]),
]


@pytest.mark.parametrize(("key", "edit", "words"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_bad_config_file_fails_the_run_clearly_and_keeps_the_published_one(
    store_url: str, tiny_registry: SourceRegistry, key: str, edit: Edit | None, words: list[str]
) -> None:
    store = seed(store_url, tiny_registry, make_points([("alpha", 39.6, -106.3)]))
    options = RunOptions(store=store, scheduler="synchronous", progress=False, variables=["temperature_2m"])
    first = run_extraction(options)
    published = read_published(store)
    document = json.loads(store.read_bytes(key))
    store.write_bytes(key, b"{not json" if edit is None else json.dumps(edit(document)).encode())
    report = run_extraction(dataclasses.replace(options, force=True))
    assert report.outcome == "failed" and report.exit_code == 2 and report.manifest is None
    assert [error.kind for error in report.errors] == ["invalid_config"]
    message = report.errors[0].message
    assert all(word in message for word in words), message
    assert "errors.pydantic.dev" not in message and len(message) < 2000
    assert read_published(store) == published
    status = store.read_model(EXTRACTION_STATUS_KEY, ExtractionStatus)
    assert status.outcome == "failed" and status.run_id == first.run_id
    assert status.last_successful_extract_utc == published[0].created_utc
    assert store.read_bytes(LATEST_MANIFEST_KEY) == store.read_bytes(f"manifests/run_id={first.run_id}.json")


def test_a_bad_registry_file_given_on_the_command_line_is_named(
    store_url: str, tiny_registry: SourceRegistry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seed(store_url, tiny_registry, make_points([("alpha", 39.6, -106.3)]))
    registry = json.loads(tiny_registry.model_dump_json())
    registry["sources"][0]["store"] = 42
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(registry))
    with caplog.at_level(logging.ERROR):
        assert main(["extract", "--store", store_url, "--registry", str(path), "--no-progress"]) == 2
    assert f"{path} is not a valid SourceRegistry: sources.0.store" in caplog.text
