"""Notification records: at most one notification per rule and run, and a record of each.

The record ``alerts/notifications/run_id=<run>/rule_id=<rule>.json`` is the idempotency key. For
each rule that changed state in run ``R``:

1. **claim**: create the record with status ``claimed`` only if it does not exist
   (``ArtifactStore.replace_if(key, …, None)``: an S3 ``If-None-Match`` write, a file lock on a
   folder). If it exists: ``sent`` → already sent, nothing to do; ``claimed`` → *unconfirmed*
   (below), nothing is sent; ``failed`` → taken over by a compare-and-swap from that version
   (``attempt`` + 1), and sent again — a failure means nothing was delivered.
2. **send** through the notifier.
3. **record the outcome** by a compare-and-swap from the claimed version: ``sent`` with the
   channels' message ids, or ``failed`` when the channel refused for certain
   (``DeliveryFailed``: connection refused, a 4xx/5xx answer, an SNS client error).

*Sent but not recorded.* A sender stopped between 2 and 3 (killed, or an ambiguous error such as
a timeout after the request went out) leaves the record ``claimed``: the notification may or may
not have been delivered. It is never sent again — at most one notification per rule and run —
and the evaluation reports it as ``unconfirmed`` (in ``alerts_status.json``, the log and the exit
code), with the record's ``claimed_utc`` to look it up in the channel's own delivery logs.

*Pending runs.* Before claiming, an evaluation appends its run to ``alerts/pending.json``. The
next evaluation reads the records of pending runs newer than the last completed evaluation
(``told_in``), so that what people were told before a crash counts as the rule's state: a rule
that fired in a run whose evaluation stopped is not told again by the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from forecast_core.alert_status import Delivery, NotificationRecord, PendingEvaluations
from forecast_core.base import utc_now
from forecast_core.layout import ALERTS_PENDING_KEY, notification_key, notification_prefix
from forecast_core.store import ArtifactStore, InvalidArtifact, StoreError, sha256_hex

log = logging.getLogger(__name__)
MAX_PENDING = 50
SWAP_ATTEMPTS = 8


class DeliveryFailed(Exception):
    """The channel refused the notification for certain: nothing was delivered."""


Send = Callable[[NotificationRecord], list[str]]


@dataclass(frozen=True, slots=True)
class Ledger:
    """Notification records and pending runs in an artifact store."""

    store: ArtifactStore

    def _bytes(self, record: NotificationRecord) -> bytes:
        return record.to_json_bytes()

    def _read(self, key: str) -> tuple[NotificationRecord, str] | None:
        found = self.store.read_versioned(key)
        if found is None:
            return None
        return self.store.decode_model(key, found.data, NotificationRecord), found.version

    def deliver(self, record: NotificationRecord, send: Send) -> Delivery:
        """Claim, send and record one notification (see the module docstring)."""
        key = notification_key(record.run_id, record.rule_id)
        claimed = self._claim(key, record)
        if isinstance(claimed, str):
            return claimed
        record, version = claimed
        try:
            message_ids = send(record)
        except DeliveryFailed as error:
            self._finish(key, version, record.replace(status="failed", finished_utc=utc_now(), error=str(error)))
            log.warning("notification %s failed: %s", key, error)
            return "failed"
        except Exception:
            log.exception("notification %s: outcome unknown; it stays claimed and is not sent again", key)
            return "unconfirmed"
        sent = record.replace(status="sent", finished_utc=utc_now(), message_ids=message_ids[:20])
        self._finish(key, version, sent)
        return "sent"

    def _claim(self, key: str, record: NotificationRecord) -> tuple[NotificationRecord, str] | Delivery:
        """The claimed record and its version, or what to report instead of sending."""
        for _ in range(SWAP_ATTEMPTS):
            data = self._bytes(record)
            if self.store.replace_if(key, data, None):
                return record, self._version(key, data)
            found = self._read(key)
            if found is None:
                continue  # deleted in between (by hand): claim again
            existing, version = found
            if existing.status == "sent":
                return "already_sent"
            if existing.status == "claimed":
                log.warning("notification %s was claimed at %s and its outcome never recorded: not sent again",
                            key, existing.claimed_utc)  # fmt: skip
                return "unconfirmed"
            retry = record.replace(attempt=existing.attempt + 1, claimed_utc=utc_now())
            data = self._bytes(retry)
            if self.store.replace_if(key, data, version):
                return retry, self._version(key, data)
        return "unconfirmed"

    def _version(self, key: str, data: bytes) -> str:
        """The version token of what this writer just wrote at ``key`` (S3: its ETag, read back;
        elsewhere the sha256 of the bytes, which is what ``read_versioned`` answers)."""
        if not self.store.is_s3:
            return sha256_hex(data)
        found = self.store.read_versioned(key)
        return found.version if found is not None and found.data == data else ""

    def _finish(self, key: str, version: str, record: NotificationRecord) -> None:
        """Record the outcome over the claim (a lost swap or a store error leaves it claimed)."""
        try:
            if not self.store.replace_if(key, self._bytes(record), version):
                log.error("notification %s changed while it was being sent; its outcome is not recorded", key)
        except StoreError:
            log.exception("notification %s: outcome %s not recorded", key, record.status)

    # --- pending runs -----------------------------------------------------------------------------

    def pending(self) -> list[str]:
        found = self.store.read_versioned(ALERTS_PENDING_KEY)
        if found is None:
            return []
        try:
            return list(self.store.decode_model(ALERTS_PENDING_KEY, found.data, PendingEvaluations).runs)
        except InvalidArtifact:
            log.warning("%s is damaged; starting it again", ALERTS_PENDING_KEY)
            return []

    def begin(self, run_id: str) -> None:
        """Add ``run_id`` to the pending runs (before any claim of its evaluation)."""
        for _ in range(SWAP_ATTEMPTS):
            found = self.store.read_versioned(ALERTS_PENDING_KEY)
            runs = self.pending() if found is not None else []
            if run_id in runs:
                return
            document = PendingEvaluations(runs=[*runs, run_id][-MAX_PENDING:]).to_json_bytes()
            if self.store.replace_if(ALERTS_PENDING_KEY, document, found.version if found else None):
                return
        raise StoreError(f"{ALERTS_PENDING_KEY} kept changing")

    def told_in(self, run_id: str) -> list[NotificationRecord]:
        """The notification records of ``run_id``'s evaluation (claimed, sent or failed)."""
        records = []
        for info in self.store.list(notification_prefix(run_id)):
            found = self._read(info.key)
            if found is not None:
                records.append(found[0])
        return records
