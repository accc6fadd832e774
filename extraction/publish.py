"""The writer half of the publish protocol: artifacts, then latest.json by compare-and-swap.

The reader half, and what readers may rely on, is ``forecast_core.published``. A run:

1. writes every Parquet artifact under its content-addressed key (``forecast_core.layout``): a
   key names one content, so nothing a published manifest lists is ever overwritten; an object
   already stored under the key is not written again;
2. swaps ``manifests/latest.json`` from the manifest it built on to its own, only if latest.json
   is still that one (``ArtifactStore.replace_if``) — the commit point. A run killed at any
   moment before it leaves the run in force untouched; a run that loses the swap to another
   run rebuilds its manifest on the new one (``extraction.compose``) and tries again;
3. then archives its manifest as ``manifests/run_id=<id>.json`` and writes the status and its
   log (after the commit, so a run that lost a swap never overwrites the archive of the run
   that won);
4. finally deletes, by age, what no recent manifest lists (``cleanup``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from forecast_core.layout import (
    FORECASTS_PREFIX,
    LATEST_MANIFEST_KEY,
    MANIFESTS_PREFIX,
    ArtifactKind,
    LayoutError,
    artifact_key,
    extraction_log_key,
    parse_run_id,
    run_manifest_key,
)
from forecast_core.published import read_latest
from forecast_core.status import ManifestArtifact, RunManifest
from forecast_core.store import (
    ArtifactNotFound,
    ArtifactStore,
    InvalidArtifact,
    StoreError,
    sha256_hex,
)

log = logging.getLogger(__name__)
KEEP_INIT_DATES = 3  # per (source, variable): the new init plus at least the previous one
CLEANUP_GRACE = timedelta(hours=24)
"""How long an unlisted artifact is kept: longer than any run takes (a run's artifacts are
unlisted until it commits) and than any reader holds a manifest (the app re-reads it every 30 s)."""


@dataclass(slots=True)
class PendingArtifact:
    """An artifact built by this run, not yet written."""

    source_id: str
    variable_id: str
    init_date: date
    kind: ArtifactKind
    data: bytes
    row_count: int
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        self.sha256 = sha256_hex(self.data)

    @property
    def key(self) -> str:
        return artifact_key(self.source_id, self.variable_id, self.init_date, self.kind, self.sha256)


def write_artifact(store: ArtifactStore, pending: PendingArtifact) -> ManifestArtifact:
    """Write one artifact under its content-addressed key (unless it is already stored there)
    and describe it for the manifest."""
    key = pending.key
    if not _stored_recently(store, key, len(pending.data)):
        store.write_bytes(key, pending.data)
    return ManifestArtifact(
        key=key,
        kind=pending.kind,
        source_id=pending.source_id,
        variable_id=pending.variable_id,
        init_date=pending.init_date,
        size_bytes=len(pending.data),
        sha256=pending.sha256,
        row_count=pending.row_count,
    )


def _stored_recently(store: ArtifactStore, key: str, size: int) -> bool:
    """Whether ``key`` holds an object of ``size`` bytes written within half the cleanup grace
    (one HEAD). The key names the content, so such an object is these bytes; an older one is
    written again, so that a concurrent cleanup cannot delete it before this run commits."""
    try:
        info = store.stat(key)
    except StoreError:
        return False
    modified = info.last_modified
    recent = modified is not None and datetime.now(UTC) - modified < CLEANUP_GRACE / 2
    return recent and info.size == size


class ArtifactWriter:
    """Step 1 of the protocol on a thread pool: ``put`` an encoded artifact and it is written at
    once (order among artifacts does not matter: none is listed before the commit)."""

    def __init__(self, store: ArtifactStore, threads: int = 8) -> None:
        self._store = store
        self._pool = ThreadPoolExecutor(max_workers=threads)
        self._writes: list[Future[ManifestArtifact]] = []
        self._lock = threading.Lock()

    def __enter__(self) -> ArtifactWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def put(self, item: PendingArtifact) -> None:
        """Queue one artifact (thread-safe)."""
        with self._lock:
            self._writes.append(self._pool.submit(write_artifact, self._store, item))

    @property
    def count(self) -> int:
        return len(self._writes)

    def written(self) -> list[ManifestArtifact]:
        """Wait for every write; the manifest entries sorted by key."""
        with self._lock:
            writes = list(self._writes)
        return sorted((write.result() for write in writes), key=lambda item: item.key)


def carried_forward(previous: RunManifest | None, written: Iterable[ManifestArtifact]) -> list[ManifestArtifact]:
    """Earlier inits' artifacts to keep listing: per (source, variable), older init dates than
    the ones written now, newest first, up to KEEP_INIT_DATES init dates in all."""
    if previous is None:
        return []
    new = list(written)
    new_keys = {item.key for item in new}
    kept: list[ManifestArtifact] = []
    pairs = {(item.source_id, item.variable_id) for item in previous.artifacts}
    for source_id, variable_id in sorted(pairs):
        dates_now = {i.init_date for i in new if (i.source_id, i.variable_id) == (source_id, variable_id)}
        room = KEEP_INIT_DATES - len(dates_now)
        older = [d for d in previous.init_dates(source_id, variable_id) if d not in dates_now][: max(room, 0)]
        for item in previous.artifacts:
            same = (item.source_id, item.variable_id) == (source_id, variable_id)
            if same and item.init_date in older and item.key not in new_keys:
                kept.append(item)
    return kept


@dataclass(slots=True)
class RunLog:
    """The run's JSON-lines log, written to ``logs/extraction/<run_id>.jsonl`` at the end."""

    run_id: str
    lines: list[str] = field(default_factory=list)

    def event(self, event: str, **details: Any) -> None:
        record = {"time_utc": datetime.now(UTC).isoformat(), "run_id": self.run_id, "event": event, **details}
        self.lines.append(json.dumps(record, default=str, separators=(",", ":")))
        brief = {k: (len(v) if isinstance(v, list) else v) for k, v in details.items()}
        log.info("%s %s", event, brief)

    def write(self, store: ArtifactStore) -> None:
        try:
            store.write_bytes(extraction_log_key(self.run_id), ("\n".join(self.lines) + "\n").encode())
        except StoreError as error:
            log.error("cannot write the run log: %s", error)


def manifest_bytes(manifest: RunManifest) -> bytes:
    """The exact bytes a manifest is stored as (latest.json and its archive copy)."""
    return manifest.model_dump_json(indent=2).encode("utf-8") + b"\n"


def commit(store: ArtifactStore, manifest: RunManifest, expected_version: str | None) -> bool:
    """Step 2: make ``manifest`` the run in force if latest.json is still at ``expected_version``
    (None: if there is none yet). True when this call made it so — including when the swap's
    answer was lost and a retry found latest.json already holding exactly these bytes."""
    data = manifest_bytes(manifest)
    if store.replace_if(LATEST_MANIFEST_KEY, data, expected_version):
        return True
    found = store.read_versioned(LATEST_MANIFEST_KEY)
    return found is not None and found.data == data


def archive(store: ArtifactStore, manifest: RunManifest) -> None:
    """Step 3: the committed manifest's archive copy (best effort: latest.json holds it too)."""
    try:
        store.write_bytes(run_manifest_key(manifest.run_id), manifest_bytes(manifest))
    except StoreError as error:
        log.error("cannot archive manifest %s: %s", manifest.run_id, error)


@dataclass(frozen=True, slots=True)
class CleanupReport:
    """What ``cleanup`` deleted and kept."""

    deleted: list[str]
    kept_unlisted: int


def cleanup(store: ArtifactStore, now: datetime | None = None, grace: timedelta = CLEANUP_GRACE) -> CleanupReport:
    """Step 4: delete artifacts and temporary files that no manifest of the last ``grace``
    (nor latest.json) lists and that are older than ``grace``.

    Both conditions protect readers: one holding a recent manifest, and a concurrent run whose
    artifacts are not listed until it commits. Objects of unknown age are kept.
    """
    moment = now or datetime.now(UTC)
    cutoff = moment - grace
    listed = _listed_since(store, cutoff)
    deleted: list[str] = []
    kept = 0
    candidates = [*store.list(FORECASTS_PREFIX), *store.temporary_files(FORECASTS_PREFIX)]
    for info in candidates:
        if info.key in listed:
            continue
        if info.last_modified is None or info.last_modified >= cutoff:
            kept += 1
            continue
        store.delete(info.key)
        deleted.append(info.key)
    return CleanupReport(deleted, kept)


CLEANUP_READ_THREADS = 8  # archived manifests read at once


def _listed_since(store: ArtifactStore, cutoff: datetime) -> set[str]:
    """Keys listed by latest.json or by any archived manifest of a run started after ``cutoff``
    (the manifests read concurrently: one round trip, not one per manifest)."""
    with ThreadPoolExecutor(max_workers=CLEANUP_READ_THREADS) as pool:
        latest = pool.submit(read_latest, store)
        recent = [info.key for info in store.list(MANIFESTS_PREFIX) if _archived_since(info.key, cutoff)]
        archived = list(pool.map(lambda key: _archived_manifest(store, key), recent))
    manifests = [manifest for manifest in [latest.result(), *archived] if manifest is not None]
    return {item.key for manifest in manifests for item in manifest.artifacts}


def _archived_since(key: str, cutoff: datetime) -> bool:
    """Whether ``key`` is the archive copy of a manifest of a run started after ``cutoff``."""
    run_id = key.removeprefix(f"{MANIFESTS_PREFIX}run_id=").removesuffix(".json")
    try:
        return parse_run_id(run_id) >= cutoff
    except LayoutError:
        return False  # latest.json and anything else that is not an archive


def _archived_manifest(store: ArtifactStore, key: str) -> RunManifest | None:
    try:
        return store.read_model(key, RunManifest)
    except (ArtifactNotFound, InvalidArtifact) as error:
        log.warning("cleanup skips %s: %s", key, error)
        return None
