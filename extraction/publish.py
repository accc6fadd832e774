"""Publishing a run: data first, then its manifest, then ``latest.json``, then the status.

The protocol (what readers may rely on)
---------------------------------------
Artifact keys are fixed per (source, variable, init_date) (``forecast_core.layout``), so a new
run overwrites the objects an earlier manifest lists. Each single-key write is atomic (S3 PUT;
temp file + rename locally), and the order is:

1. every Parquet artifact (skipped when the stored bytes already have the same sha256);
2. ``manifests/run_id=<id>.json`` listing every artifact with size, sha256 and, on a versioned
   S3 bucket, the object's ``version_id``;
3. ``manifests/latest.json`` (a copy of that manifest) — the commit point;
4. ``dashboard/status/extraction_status.json`` and ``logs/extraction/<run_id>.jsonl``.

A run that dies before step 3 leaves the previous latest.json in force. A reader resolves
latest.json, then reads exactly the listed artifacts and checks each one's sha256 (or reads the
listed ``version_id``, which returns those exact bytes even after a later overwrite). A checksum
mismatch means another run replaced the object after that latest.json was written: the reader
gets ``ArtifactChanged`` — a clear, retryable error — and retries from latest.json; it never
silently mixes two runs. ``read_published`` below is the reference reader.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from forecast_core.layout import (
    EXTRACTION_STATUS_KEY,
    LATEST_MANIFEST_KEY,
    ArtifactKind,
    extraction_log_key,
    parse_artifact_key,
    run_manifest_key,
)
from forecast_core.status import ExtractionStatus, ManifestArtifact, RunManifest
from forecast_core.store import ArtifactNotFound, ArtifactStore, StoreError, sha256_hex

log = logging.getLogger(__name__)
KEEP_INIT_DATES = 3  # per (source, variable): the new init plus at least the previous one


class ArtifactChanged(StoreError):
    """A listed artifact's bytes differ from the manifest (a newer run replaced it): retry."""


def read_latest(store: ArtifactStore) -> RunManifest | None:
    """The published manifest, or None before the first run."""
    try:
        return store.read_model(LATEST_MANIFEST_KEY, RunManifest)
    except ArtifactNotFound:
        return None


def read_status(store: ArtifactStore) -> ExtractionStatus | None:
    try:
        return store.read_model(EXTRACTION_STATUS_KEY, ExtractionStatus)
    except (ArtifactNotFound, StoreError):
        return None


def _version_id(store: ArtifactStore, key: str) -> str | None:
    """The S3 object version just written (None locally or on an unversioned bucket)."""
    if not store.is_s3:
        return None
    try:
        info = store.fs.info(store.path(key), refresh=True)
    except Exception:  # noqa: BLE001 (the version id is an optional extra)
        return None
    version = info.get("VersionId")
    return str(version) if version and version != "null" else None


def read_artifact(store: ArtifactStore, artifact: ManifestArtifact) -> bytes:
    """The exact bytes a manifest lists, or ArtifactChanged (retry from latest.json)."""
    versioned = artifact.version_id is not None and store.is_s3
    data = _read_version(store, artifact) if versioned else store.read_bytes(artifact.key)
    if sha256_hex(data) != artifact.sha256:
        raise ArtifactChanged(f"{artifact.key} changed since the manifest was written; re-read latest.json")
    return data


def _read_version(store: ArtifactStore, artifact: ManifestArtifact) -> bytes:
    import boto3

    bucket, _, key = store.path(artifact.key).partition("/")
    client = boto3.client("s3", endpoint_url=store.endpoint_url)
    response = client.get_object(Bucket=bucket, Key=key, VersionId=artifact.version_id)
    body: bytes = response["Body"].read()
    return body


def read_published(store: ArtifactStore, retries: int = 3) -> tuple[RunManifest, dict[str, bytes]]:
    """latest.json and every artifact it lists, all from that one run (retrying on a change)."""
    for attempt in range(retries):
        manifest = read_latest(store)
        if manifest is None:
            raise ArtifactNotFound(f"{LATEST_MANIFEST_KEY} not found in {store.url}")
        try:
            return manifest, {item.key: read_artifact(store, item) for item in manifest.artifacts}
        except ArtifactChanged:
            if attempt == retries - 1:
                raise
    raise AssertionError("unreachable")


@dataclass(slots=True)
class PendingArtifact:
    """An artifact built by this run, not yet written."""

    key: str
    data: bytes
    row_count: int


def write_artifact(store: ArtifactStore, pending: PendingArtifact) -> ManifestArtifact:
    """Write one artifact (unless identical bytes are already stored) and describe it."""
    digest = sha256_hex(pending.data)
    try:  # a size check (one HEAD) first: only same-size objects are fetched and hashed
        same_size = int(store.fs.size(store.path(pending.key))) == len(pending.data)
        unchanged = same_size and sha256_hex(store.read_bytes(pending.key)) == digest
    except (StoreError, OSError):
        unchanged = False
    if not unchanged:
        store.write_bytes(pending.key, pending.data)
    ref = parse_artifact_key(pending.key)
    kind: ArtifactKind = ref.kind
    return ManifestArtifact(
        key=pending.key,
        kind=kind,
        source_id=ref.source_id,
        variable_id=ref.variable_id,
        init_date=ref.init_date,
        size_bytes=len(pending.data),
        sha256=digest,
        row_count=pending.row_count,
        version_id=_version_id(store, pending.key),
    )


class ArtifactWriter:
    """Step 1 of the protocol on a thread pool (order among data objects does not matter; all of
    them are written before the manifest). ``put`` an encoded artifact and it is written at once,
    or, with ``hold``, only when ``written()`` is called: a --points run first checks that no
    other run published meanwhile, and must not have overwritten anything before that."""

    def __init__(self, store: ArtifactStore, hold: bool, threads: int = 8) -> None:
        self._store, self._hold = store, hold
        self._pool = ThreadPoolExecutor(max_workers=threads)
        self._held: list[PendingArtifact] = []
        self._writes: list[Future[ManifestArtifact]] = []
        self._lock = threading.Lock()

    def __enter__(self) -> ArtifactWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def put(self, item: PendingArtifact) -> None:
        """Queue one artifact (thread-safe)."""
        with self._lock:
            if self._hold:
                self._held.append(item)
            else:
                self._writes.append(self._pool.submit(write_artifact, self._store, item))

    @property
    def count(self) -> int:
        return len(self._held) + len(self._writes)

    def written(self) -> list[ManifestArtifact]:
        """Write what is held, wait for every write; the manifest entries sorted by key."""
        with self._lock:
            self._writes += [self._pool.submit(write_artifact, self._store, item) for item in self._held]
            self._held = []
        return sorted((write.result() for write in self._writes), key=lambda item: item.key)


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


def publish(store: ArtifactStore, manifest: RunManifest) -> None:
    """Steps 2 and 3 of the protocol: the run's manifest, then latest.json."""
    store.write_model(run_manifest_key(manifest.run_id), manifest)
    store.write_model(LATEST_MANIFEST_KEY, manifest)
