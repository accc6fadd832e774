"""DataStore: the app's only reader of the artifact store (manifests, Parquet, status, config).

Contract:

- ``manifest()`` resolves ``manifests/latest.json`` at most once per ``manifest_ttl_seconds``;
  every artifact read goes through the manifest's listing, never a store listing.
- Artifacts are read through the shared reader of the publish protocol
  (``forecast_core.published.verified``: the listed key, checked against the listed
  ``sha256``). Listed objects are never overwritten, so a mismatch or a missing object means
  damage or a manifest held past the cleanup grace: the manifest is re-resolved and the read
  retried once; a second failure raises ``ArtifactIntegrityError``.
- Verified bytes and per-point tables are cached by artifact key *and run id*: when latest.json
  names a new run, every cache is dropped, so a session never mixes two runs.
- The cache holds immutable Arrow tables; every call returns a new pandas frame the caller owns
  (about 1 ms per frame). A cached pandas frame handed to sessions would grow with them: pandas'
  copy-on-write tracking appends a weak reference to the cached frame for each view a session
  takes, and those small long-lived objects, scattered through the heap, keep a closed session's
  memory from being returned to the system.
- Per-point reads use pyarrow filters on ``point_id`` (one row group per point by the writers'
  contract), so only that point's rows are decoded.
- No raw forecast cube is ever read here: only the Parquet artifacts the pipeline published.
- When the store fails (after the clients' own retries), the last good data stay in use: the
  manifest and JSON documents read before are kept (re-tried every ``retry_seconds`` while the
  store fails), cached tables are served, and only a read that was never cached raises
  ``StoreError``. ``health()`` says since when reads fail; the next successful read clears it.

One DataStore is shared by every session of a process (see ``shared_datastore``); it is
thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ValidationError

from forecast_core import layout
from forecast_core.alert_status import AlertsStatus
from forecast_core.alerts import AlertRules
from forecast_core.layout import ArtifactKind
from forecast_core.points import PreCannedPoints
from forecast_core.published import ArtifactChanged, verified
from forecast_core.registry import CanonicalVariables, SourceRegistry
from forecast_core.status import ExtractionStatus, InventoryHistoryRow, InventoryStatus, RunManifest
from forecast_core.store import ArtifactNotFound, ArtifactStore, StoreError
from forecast_panel.columns import point_rows

ModelT = TypeVar("ModelT", bound=BaseModel)
_Loaded = TypeVar("_Loaded")


class ArtifactIntegrityError(StoreError):
    """An artifact's bytes do not match the checksum its manifest lists, even after a retry."""


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """The store as the app last saw it: failing since when (None: fine), with which error, and
    when latest.json was last read (the age of the data on show)."""

    failing_since: datetime | None = None
    error: str | None = None
    last_good_manifest_read: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.failing_since is None


class _Lru:
    """A small thread-unsafe LRU bounded by item count (callers hold the DataStore lock)."""

    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self.items: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any) -> Any:
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.max_items:
            self.items.popitem(last=False)

    def clear(self) -> None:
        self.items.clear()


class DataStore:
    """Reads what the pipeline published, through the shared contracts, with run-scoped caches."""

    def __init__(
        self,
        store: ArtifactStore | str,
        *,
        manifest_ttl_seconds: float = 30.0,
        retry_seconds: float = 5.0,
        max_artifacts: int = 64,
        max_tables: int = 512,
    ) -> None:
        self.store = store if isinstance(store, ArtifactStore) else ArtifactStore(store)
        self.manifest_ttl_seconds = manifest_ttl_seconds
        self.retry_seconds = min(retry_seconds, manifest_ttl_seconds)
        self._health = StoreHealth()
        self._lock = threading.RLock()
        self._manifest: RunManifest | None = None
        self._manifest_raw: bytes | None = None
        self._manifest_checked = -1e18
        self._bytes = _Lru(max_artifacts)
        self._tables = _Lru(max_tables)
        self._documents: dict[str, tuple[float, bytes | None, Any]] = {}  # key → (read at, bytes, decoded)
        self.reads = 0  # artifact byte reads from the store (for tests and benchmarks)

    # --- manifest and run-scoped caches ---------------------------------------------------------

    # --- store health ------------------------------------------------------------------------

    def health(self) -> StoreHealth:
        """Whether the store answered the last read (see the module docstring)."""
        with self._lock:
            return self._health

    def _read(self, key: str) -> bytes:
        """``store.read_bytes`` that records the store's health (a missing key is an answer)."""
        try:
            data = self.store.read_bytes(key)
        except ArtifactNotFound:
            self._note_success()
            raise
        except StoreError as error:
            with self._lock:
                since = self._health.failing_since or datetime.now(UTC)
                self._health = StoreHealth(since, str(error), self._health.last_good_manifest_read)
            raise
        self._note_success()
        return data

    def _note_success(self, manifest_read: bool = False) -> None:
        with self._lock:
            last = datetime.now(UTC) if manifest_read else self._health.last_good_manifest_read
            self._health = StoreHealth(None, None, last)

    def _recheck_after(self) -> float:
        return self.manifest_ttl_seconds if self._health.ok else self.retry_seconds

    # --- manifest and run-scoped caches ---------------------------------------------------------

    def manifest(self, *, force: bool = False) -> RunManifest | None:
        """The latest published manifest (None before any run); re-read after the TTL. When the
        store fails, the manifest read before stays in force (see ``health()``)."""
        with self._lock:
            now = time.monotonic()
            if force or now - self._manifest_checked >= self._recheck_after():
                self._manifest_checked = now
                key = layout.LATEST_MANIFEST_KEY
                try:
                    raw = self._read_optional(key)
                except StoreError:
                    return self._manifest
                self._note_success(manifest_read=True)
                if raw is None or raw != self._manifest_raw:  # unchanged bytes keep the parsed copy
                    latest = None if raw is None else self.store.decode_model(key, raw, RunManifest)
                    if latest is None or self._manifest is None or latest.run_id != self._manifest.run_id:
                        self._bytes.clear()
                        self._tables.clear()
                        self._documents.clear()
                    self._manifest, self._manifest_raw = latest, raw
            return self._manifest

    @property
    def run_id(self) -> str | None:
        manifest = self.manifest()
        return manifest.run_id if manifest else None

    def _verified_bytes(self, key: str) -> bytes:
        """Bytes of a listed artifact, checked against the manifest's sha256 (one retry)."""
        for attempt in range(2):
            manifest = self.manifest(force=attempt > 0)
            if manifest is None:
                raise ArtifactNotFound(f"{key}: no manifest has been published yet")
            listed = next((item for item in manifest.artifacts if item.key == key), None)
            if listed is None:
                raise ArtifactNotFound(f"{key} is not listed in run {manifest.run_id}")
            cache_key = (manifest.run_id, key)
            with self._lock:
                cached = self._bytes.get(cache_key)
            if cached is not None:
                return bytes(cached)
            self.reads += 1
            try:
                data = verified(listed, self._read(key))
            except (ArtifactChanged, ArtifactNotFound):
                continue  # damaged, or unlisted since: re-resolve latest.json once
            with self._lock:
                self._bytes.put(cache_key, data)
            return data
        raise ArtifactIntegrityError(f"{key}: missing or not matching the manifest's sha256 after a retry")

    def _frame(self, cache_key: tuple[Any, ...], read: Callable[[], pa.Table]) -> pd.DataFrame:
        """A new frame of the cached table ``read`` returns (read once per key and run)."""
        with self._lock:
            table: pa.Table | None = self._tables.get(cache_key)
        if table is None:
            table = read()
            with self._lock:
                self._tables.put(cache_key, table)
        return table.to_pandas(split_blocks=True)

    def _read_point(
        self, kind: ArtifactKind, source_id: str, variable_id: str, point_id: str, init: date | None
    ) -> pd.DataFrame:
        table = self.point_table(kind, source_id, variable_id, point_id, init)
        return pd.DataFrame() if table is None else table.to_pandas(split_blocks=True)

    def point_table(
        self, kind: ArtifactKind, source_id: str, variable_id: str, point_id: str, init: date | None = None
    ) -> pa.Table | None:
        """The cached, immutable Arrow table of one point's rows of an artifact (None when the run
        lists no such artifact). For callers that read a few columns as numpy arrays: no pandas
        frame is built (the meteogram reads eight of these per change)."""
        manifest = self.manifest()
        listed = manifest.artifact(source_id, variable_id, kind, init) if manifest else None
        if manifest is None or listed is None:
            return None
        cache_key = (manifest.run_id, listed.key, point_id)
        with self._lock:
            table: pa.Table | None = self._tables.get(cache_key)
        if table is None:
            data = self._verified_bytes(listed.key)
            table = point_rows(data, point_id)
            with self._lock:
                self._tables.put(cache_key, table)
        return table

    # --- Parquet artifacts ---------------------------------------------------------------------

    def summary(self, source_id: str, variable_id: str, point_id: str, init: date | None = None) -> pd.DataFrame:
        """ensemble_summary rows of one point (sorted by lead), newest init if ``init`` is None.

        Empty when the run lists no such artifact or the point has no rows (forecast pending).
        """
        return self._read_point("ensemble_summary", source_id, variable_id, point_id, init)

    def members(self, source_id: str, variable_id: str, point_id: str, init: date | None = None) -> pd.DataFrame:
        """points.parquet rows (every member and lead) of one point."""
        return self._read_point("points", source_id, variable_id, point_id, init)

    def map_summary(
        self, source_id: str, variable_id: str, lead_hours: float, init: date | None = None
    ) -> pd.DataFrame:
        """map_summary rows of one lead (all cells), for the map's orientation overlay."""
        manifest = self.manifest()
        listed = manifest.artifact(source_id, variable_id, "map_summary", init) if manifest else None
        if manifest is None or listed is None:
            return pd.DataFrame()

        def read() -> pa.Table:
            data = self._verified_bytes(listed.key)
            return pq.read_table(pa.BufferReader(data), filters=[("lead_hours", "==", float(lead_hours))])

        return self._frame((manifest.run_id, listed.key, "lead", float(lead_hours)), read)

    def map_leads(self, source_id: str, variable_id: str, init: date | None = None) -> list[float]:
        """Lead hours present in a map_summary artifact (read from its column only)."""
        manifest = self.manifest()
        listed = manifest.artifact(source_id, variable_id, "map_summary", init) if manifest else None
        if manifest is None or listed is None:
            return []
        data = self._verified_bytes(listed.key)
        column = pq.read_table(pa.BufferReader(data), columns=["lead_hours"]).column("lead_hours")
        return sorted({float(value) for value in column.to_pylist()})

    # --- JSON documents ------------------------------------------------------------------------

    def _read_optional(self, key: str) -> bytes | None:
        try:
            return self._read(key)
        except ArtifactNotFound:
            return None

    def _document(self, key: str, decode: Callable[[bytes | None], _Loaded]) -> _Loaded:
        """A small JSON document decoded from its bytes (None when absent), re-read after the
        manifest TTL (status and config change rarely) and decoded again only if its bytes
        changed: a fresh copy every TTL while sessions run would scatter long-lived objects
        over the heap pages the sessions free, and keep them resident."""
        now = time.monotonic()
        with self._lock:
            cached = self._documents.get(key)
            if cached is not None and now - cached[0] < self._recheck_after():
                value: _Loaded = cached[2]
                return value
        try:
            raw = self._read_optional(key)
        except StoreError:  # the store fails: keep what was read before (or "absent"), retry later
            raw, value = (cached[1], cached[2]) if cached is not None else (None, decode(None))
            with self._lock:
                self._documents[key] = (now, raw, value)
            return value
        value = cached[2] if cached is not None and raw is not None and raw == cached[1] else decode(raw)
        with self._lock:
            self._documents[key] = (now, raw, value)
        return value

    def _optional_model(self, key: str, model: type[ModelT]) -> ModelT | None:
        return self._document(key, lambda raw: None if raw is None else self.store.decode_model(key, raw, model))

    def extraction_status(self) -> ExtractionStatus | None:
        return self._optional_model(layout.EXTRACTION_STATUS_KEY, ExtractionStatus)

    def inventory_status(self) -> InventoryStatus | None:
        return self._optional_model(layout.INVENTORY_STATUS_KEY, InventoryStatus)

    def inventory_history(self) -> list[InventoryHistoryRow]:
        """Rows of inventory_history.jsonl; malformed lines are skipped (the trend is advisory)."""

        def decode(raw: bytes | None) -> list[InventoryHistoryRow]:
            rows: list[InventoryHistoryRow] = []
            for line in (raw or b"").decode("utf-8").splitlines():
                if line.strip():
                    try:
                        rows.append(InventoryHistoryRow.model_validate_json(line))
                    except ValidationError:
                        continue
            return rows

        return self._document(layout.INVENTORY_HISTORY_KEY, decode)

    def registry(self) -> SourceRegistry | None:
        return self._optional_model(layout.SOURCE_REGISTRY_KEY, SourceRegistry)

    def variables(self) -> CanonicalVariables:
        """The store's canonical variables (the packaged dictionary if the store has none)."""
        found = self._optional_model(layout.CANONICAL_VARIABLES_KEY, CanonicalVariables)
        if found is None:
            from forecast_core.defaults import canonical_variables

            return canonical_variables()
        return found

    def alert_rules(self, *, fresh: bool = False) -> AlertRules | None:
        """The store's alert_rules.json (written by the write-back API)."""
        if fresh:
            with self._lock:
                self._documents.pop(layout.ALERT_RULES_KEY, None)
        return self._optional_model(layout.ALERT_RULES_KEY, AlertRules)

    def alerts_status(self) -> AlertsStatus | None:
        """The latest alert evaluation (``forecast_alerts``): each rule's state after its run."""
        return self._optional_model(layout.ALERTS_STATUS_KEY, AlertsStatus)

    def configured_points(self, *, fresh: bool = False) -> PreCannedPoints | None:
        """The store's pre_canned_points.json (written by the write-back API)."""
        if fresh:
            with self._lock:
                self._documents.pop(layout.PRE_CANNED_POINTS_KEY, None)
        return self._optional_model(layout.PRE_CANNED_POINTS_KEY, PreCannedPoints)


_SHARED: dict[str, DataStore] = {}
_SHARED_LOCK = threading.Lock()


def shared_datastore(url: str, **options: Any) -> DataStore:
    """The process-wide DataStore of ``url`` (one cache for every session)."""
    with _SHARED_LOCK:
        found = _SHARED.get(url)
        if found is None:
            found = _SHARED[url] = DataStore(url, **options)
        return found
