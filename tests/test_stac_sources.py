"""Sources given as dynamical.org dataset ids are resolved through a STAC catalog over HTTP.

A loopback server plays stac.dynamical.org with the real catalog shape (a root catalog whose child
links lead to collections with an ``icechunk`` asset); its asset points at a sample store, so the
same code path that production uses opens real Icechunk data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from extraction.sources import SourceUnavailable, open_source
from forecast_core.registry import SourceEntry, SourceRegistry, StacLocation
from tests.conftest import serve_json

DATASET_ID = "noaa-gefs-forecast-35-day"
COLLECTION = {  # what STAC requires of a collection, as dynamical.org's have it
    "type": "Collection",
    "stac_version": "1.0.0",
    "description": "an ensemble forecast",
    "license": "CC-BY-4.0",
    "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [["2020-10-01T00:00:00Z", None]]}},
    "links": [],
}


@pytest.fixture
def stac_catalog(tiny_samples: Path) -> Iterator[str]:
    registry = SourceRegistry.model_validate_json((tiny_samples / "source_registry.json").read_bytes())
    gefs_repository = registry.get("gefs").location.url  # type: ignore[union-attr]
    documents: dict[str, dict[str, object]] = {
        "/catalog.json": {
            "type": "Catalog",
            "stac_version": "1.0.0",
            "description": "dynamical.org datasets",
            "id": "dynamical",
            "links": [
                {"rel": "self", "href": "./catalog.json"},
                {"rel": "child", "href": f"./{DATASET_ID}/collection.json"},
            ],
        },
        f"/{DATASET_ID}/collection.json": {
            **COLLECTION,
            "id": DATASET_ID,
            "assets": {
                "icechunk": {
                    "href": gefs_repository,
                    "roles": ["data"],
                    "xarray:storage_options": {"anon": True, "client_kwargs": {"region_name": "us-west-2"}},
                }
            },
        },
    }

    # a dataset whose id has ours as its prefix, listed first: only an exact id match is ours
    decoy = f"{DATASET_ID}-archive"
    documents["/catalog.json"]["links"].insert(1, {"rel": "child", "href": f"./{decoy}/collection.json"})  # type: ignore[attr-defined]
    documents[f"/{decoy}/collection.json"] = {
        **COLLECTION,
        "id": decoy,
        "assets": {"icechunk": {"href": "s3://not-this-one/archive.icechunk", "roles": ["data"]}},
    }
    failing = {"/catalog.json": 1}  # the catalog answers 503 once: a transient failure, retried

    def answer(path: str) -> tuple[int, object]:
        if failing.get(path, 0) > 0:
            failing[path] -= 1
            return 503, {"message": "SlowDown"}
        return (200, documents[path]) if path in documents else (404, {})

    with serve_json(answer) as server:
        yield f"{server.url}/catalog.json"


def test_dataset_id_resolves_to_the_icechunk_repository(stac_catalog: str) -> None:
    entry = SourceEntry(
        source_id="gefs",
        display_name="GEFS",
        dataset_id=DATASET_ID,
        location=StacLocation(dataset_id=DATASET_ID, catalog_url=stac_catalog),
    )
    dataset = open_source(entry)  # after one 503 from the catalog, past the decoy with a longer id
    assert dataset["temperature_2m"].dims[:3] == ("init_time", "ensemble_member", "lead_time")
    assert dataset.attrs["dataset_id"] == DATASET_ID


def test_unknown_dataset_id_is_a_clear_error(stac_catalog: str) -> None:
    entry = SourceEntry(
        source_id="other",
        display_name="Other",
        dataset_id="no-such-dataset",
        location=StacLocation(dataset_id="no-such-dataset", catalog_url=stac_catalog),
    )
    with pytest.raises(SourceUnavailable, match="no-such-dataset is not in the STAC catalog"):
        open_source(entry)


def test_unreachable_catalog_is_a_clear_error() -> None:
    entry = SourceEntry(
        source_id="gefs",
        display_name="GEFS",
        dataset_id=DATASET_ID,
        location=StacLocation(dataset_id=DATASET_ID, catalog_url="http://127.0.0.1:9/catalog.json"),
    )
    with pytest.raises(SourceUnavailable, match="cannot open source 'gefs'"):
        open_source(entry)
