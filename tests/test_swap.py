"""``forecast_core.swap``: a read-change-write of one key that lands exactly once."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError

from forecast_core.store import ArtifactStore, StoreError
from forecast_core.swap import SwapConflict, swap


def _increment(old: bytes | None) -> tuple[bytes, int]:
    value = json.loads(old)["n"] + 1 if old else 1
    return json.dumps({"n": value}).encode(), value


def test_a_writer_that_slips_in_is_kept_and_the_change_reapplied(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path))
    seen: list[bytes | None] = []

    def change(old: bytes | None) -> tuple[bytes, int]:
        seen.append(old)
        if len(seen) == 1:
            store.write_bytes("state.json", b'{"n": 41}')  # another writer, between the read and the write
        return _increment(old)

    assert swap(store, "state.json", change, base_delay=0) == 42
    assert seen == [None, b'{"n": 41}']
    assert json.loads(store.read_bytes("state.json")) == {"n": 42}


def test_a_change_that_raises_writes_nothing() -> None:
    store = ArtifactStore("memory://swap-abort")
    store.write_bytes("state.json", b'{"n": 1}')

    def refuse(old: bytes | None) -> tuple[bytes, int]:
        raise ValueError("not allowed")

    with pytest.raises(ValueError, match="not allowed"):
        swap(store, "state.json", refuse)
    assert store.read_bytes("state.json") == b'{"n": 1}'


def test_every_attempt_lost_is_a_conflict(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path))
    rounds = iter(range(100))

    def always_overtaken(old: bytes | None) -> tuple[bytes, int]:
        store.write_bytes("state.json", json.dumps({"other": next(rounds)}).encode())
        return b"{}", 0

    with pytest.raises(SwapConflict, match="after 3 attempts"):
        swap(store, "state.json", always_overtaken, attempts=3, base_delay=0)
    assert json.loads(store.read_bytes("state.json")) == {"other": 2}, "the other writer's writes are kept"


def test_a_write_with_an_unknown_outcome_is_decided_by_its_token(s3_bucket: str, moto: str) -> None:
    """The put lands but its answer is lost (a transient error after botocore's retries): the next
    read finds the put's token in the object's metadata, so the change is not applied twice."""
    store = ArtifactStore(f"s3://{s3_bucket}/p", endpoint_url=moto)
    store.write_bytes("state.json", b'{"n": 41}')
    conditional_write = store.replace_if
    calls: list[tuple[str, ...]] = []

    def answer_lost(key: str, data: bytes, expected: str | None, *, tokens: tuple[str, ...] = ()) -> bool:
        calls.append(tokens)
        assert conditional_write(key, data, expected, tokens=tokens)
        if len(calls) == 1:
            raise StoreError("write lost") from EndpointConnectionError(endpoint_url=moto)
        return True

    store.replace_if = answer_lost  # type: ignore[method-assign]
    assert swap(store, "state.json", _increment, base_delay=0) == 42
    assert len(calls) == 1, "the landed write was recognised, not sent again"
    found = store.read_versioned("state.json")
    assert found is not None and json.loads(found.data) == {"n": 42} and found.tokens == calls[0]


def test_tokens_keep_the_latest_sixteen_writes(s3_bucket: str, moto: str) -> None:
    store = ArtifactStore(f"s3://{s3_bucket}", endpoint_url=moto)
    for _ in range(20):
        swap(store, "counter.json", _increment)
    found = store.read_versioned("counter.json")
    assert found is not None and json.loads(found.data) == {"n": 20}
    assert len(found.tokens) == 16 and len(set(found.tokens)) == 16


def test_a_store_pickles_without_its_client(s3_bucket: str, moto: str) -> None:
    store = ArtifactStore(f"s3://{s3_bucket}", endpoint_url=moto)
    store.write_bytes("a.json", b"{}")
    assert store.read_versioned("a.json") is not None  # the client is made
    copy = pickle.loads(pickle.dumps(store))
    assert copy.read_bytes("a.json") == b"{}" and copy.read_versioned("a.json") is not None
