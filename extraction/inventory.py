"""``forecast-panel inventory``: what the artifact store holds and what it costs per month.

Cost model: S3 Standard storage only (requests and egress are left out: a few thousand requests
a day cost cents, and egress to ECS/Lambda in the region is free). Billed bytes are the current
objects plus, on a versioned bucket, every noncurrent version. GB here is the binary gigabyte
(2^30 bytes), the unit AWS meters storage in (GB-month); PRICE_AS_OF dates the price.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from forecast_core.base import utc_now
from forecast_core.layout import INVENTORY_HISTORY_KEY, INVENTORY_STATUS_KEY
from forecast_core.status import InventoryHistoryRow, InventoryStatus, PrefixUsage
from forecast_core.store import S3_RETRY_CONFIG, ArtifactNotFound, ArtifactStore, ObjectInfo

log = logging.getLogger(__name__)

S3_STANDARD_USD_PER_GB_MONTH: Final = 0.023  # us-east-1, first 50 TB
PRICE_AS_OF: Final = date(2026, 11, 25)
BYTES_PER_GB: Final = 2**30


def monthly_storage_usd(total_bytes: int, price_per_gb_month: float = S3_STANDARD_USD_PER_GB_MONTH) -> float:
    """Monthly S3 Standard storage cost of ``total_bytes`` (binary GB)."""
    return round(total_bytes / BYTES_PER_GB * price_per_gb_month, 6)


def prefix_usage(objects: list[ObjectInfo]) -> list[PrefixUsage]:
    """Object count and bytes per top-level prefix (``forecasts/``, ``manifests/`` …)."""
    totals: dict[str, list[int]] = {}
    for item in objects:
        head, slash, _ = item.key.partition("/")
        prefix = f"{head}/" if slash else head
        entry = totals.setdefault(prefix, [0, 0])
        entry[0] += 1
        entry[1] += item.size
    return [PrefixUsage(prefix=p, object_count=c, total_size_bytes=b) for p, (c, b) in sorted(totals.items())]


@dataclass(frozen=True, slots=True)
class NoncurrentVersions:
    count: int
    size_bytes: int


def noncurrent_versions(store: ArtifactStore) -> NoncurrentVersions:
    """Noncurrent object versions under the store's prefix (zero off S3 or unversioned)."""
    if not store.is_s3:
        return NoncurrentVersions(0, 0)
    import boto3
    from botocore.config import Config

    bucket, _, prefix = store.root.partition("/")
    client = boto3.client("s3", endpoint_url=store.endpoint_url, config=Config(**S3_RETRY_CONFIG))
    count = size = 0
    paginator = client.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/" if prefix else ""):
        for version in page.get("Versions", []):
            if not version.get("IsLatest", False):
                count += 1
                size += int(version.get("Size", 0))
    return NoncurrentVersions(count, size)


def take_inventory(store: ArtifactStore, now: datetime | None = None) -> InventoryStatus:
    """List the store, price it, append the history row and write ``inventory_status.json``."""
    moment = now or utc_now()
    objects = store.list("")
    total = sum(item.size for item in objects)
    old = noncurrent_versions(store)
    status = InventoryStatus(
        bucket=store.bucket,
        object_count=len(objects),
        total_size_bytes=total,
        estimated_monthly_storage_usd=monthly_storage_usd(total + old.size_bytes),
        last_inventory_update_utc=moment,
        prefixes=prefix_usage(objects),
        noncurrent_version_count=old.count,
        noncurrent_size_bytes=old.size_bytes,
        price_per_gb_month_usd=S3_STANDARD_USD_PER_GB_MONTH,
        price_as_of=PRICE_AS_OF,
    )
    append_history(
        store,
        InventoryHistoryRow(
            timestamp_utc=moment,
            object_count=status.object_count,
            total_size_bytes=status.total_size_bytes,
            estimated_monthly_storage_usd=status.estimated_monthly_storage_usd,
        ),
    )
    store.write_model(INVENTORY_STATUS_KEY, status)
    return status


def append_history(store: ArtifactStore, row: InventoryHistoryRow) -> None:
    """Append one JSON line to the history (rewritten whole: one atomic single-key write)."""
    try:
        existing = store.read_bytes(INVENTORY_HISTORY_KEY)
    except ArtifactNotFound:
        existing = b""
    if existing and not existing.endswith(b"\n"):
        existing += b"\n"
    line = json.dumps(json.loads(row.model_dump_json()), separators=(",", ":")).encode() + b"\n"
    store.write_bytes(INVENTORY_HISTORY_KEY, existing + line)


def read_history(store: ArtifactStore) -> list[InventoryHistoryRow]:
    """The storage trend, oldest first."""
    try:
        data = store.read_bytes(INVENTORY_HISTORY_KEY)
    except ArtifactNotFound:
        return []
    return [InventoryHistoryRow.model_validate_json(line) for line in data.splitlines() if line.strip()]
