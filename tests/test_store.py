"""Store access by URL: one code path for a local folder, memory:// and S3 on a moto server."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from forecast_core import defaults
from forecast_core.init_store import init_store
from forecast_core.layout import CANONICAL_VARIABLES_KEY, PRE_CANNED_POINTS_KEY, SOURCE_REGISTRY_KEY
from forecast_core.points import PreCannedPoints
from forecast_core.registry import SourceRegistry
from forecast_core.store import ArtifactNotFound, ArtifactStore, InvalidArtifact, StoreError


def _exercise(store: ArtifactStore) -> None:
    store.write_bytes("a/b/c.bin", b"hello")
    assert store.read_bytes("a/b/c.bin") == b"hello"
    store.write_bytes("a/b/c.bin", b"world")
    assert store.read_bytes("a/b/c.bin") == b"world"
    assert store.exists("a/b/c.bin") and not store.exists("a/b/missing")
    store.write_bytes("a/d.bin", b"12")
    listing = store.list("a/")
    assert [(info.key, info.size) for info in listing] == [("a/b/c.bin", 5), ("a/d.bin", 2)]
    with pytest.raises(ArtifactNotFound):
        store.read_bytes("nope.json")
    with open_text(store) as handle:
        assert handle.read() == b"world"
    store.write_bytes("bad.json", b"{not json")
    with pytest.raises(InvalidArtifact):
        store.read_json("bad.json")
    with pytest.raises(InvalidArtifact):
        store.read_model("bad.json", SourceRegistry)
    store.delete("a/d.bin")
    assert not store.exists("a/d.bin")


def open_text(store: ArtifactStore):  # type: ignore[no-untyped-def]
    return store.open("a/b/c.bin")


def test_local_folder_store(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "s"))
    _exercise(store)
    assert not list((tmp_path / "s").rglob("*.tmp-*")), "atomic writes leave no temp files"


def test_memory_store() -> None:
    _exercise(ArtifactStore(f"memory://{uuid.uuid4().hex}"))


@pytest.mark.aws
def test_s3_store_on_moto(s3_bucket: str) -> None:
    _exercise(ArtifactStore(f"s3://{s3_bucket}/prefix"))


def test_keys_cannot_escape_the_root(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path))
    with pytest.raises(StoreError):
        store.write_bytes("../outside.txt", b"x")


@pytest.mark.aws
def test_unreachable_s3_endpoint_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    store = ArtifactStore("s3://no-such-bucket/x", storage_options={"config_kwargs": {"retries": {"max_attempts": 1}}})
    with pytest.raises(StoreError):
        store.read_bytes("dashboard/status/extraction_status.json")


def test_init_store_seeds_config_and_keeps_user_points(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "store"))
    assert init_store(store) == [SOURCE_REGISTRY_KEY, CANONICAL_VARIABLES_KEY, PRE_CANNED_POINTS_KEY]
    points = store.read_model(PRE_CANNED_POINTS_KEY, PreCannedPoints)
    fewer = points.replace(points=points.points[:2])
    store.write_model(PRE_CANNED_POINTS_KEY, fewer)
    assert PRE_CANNED_POINTS_KEY not in init_store(store)
    assert len(store.read_model(PRE_CANNED_POINTS_KEY, PreCannedPoints).points) == 2
    assert store.read_model(SOURCE_REGISTRY_KEY, SourceRegistry) == defaults.production_source_registry()
