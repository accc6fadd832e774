"""A run's manifest, composed on the run in force (its *base*), and rebuilt when the base changes.

A run's artifacts are written before it commits, under content-addressed keys, so composing a
manifest only decides what to list. What the run adds to its base depends on its kind:

- ``full``: its artifacts replace the base's for the init it extracted. Points the base holds
  that are still enabled but that this run did not extract (a ``--points`` run added them after
  this run read its config) are merged in from the base when it is the same init; when the base
  holds them for another init, the run must start over (``Restart``) rather than drop them. A
  base that already holds a newer init of a source means this run is stale (``Superseded``).
- ``points``: its points' rows replace theirs in the base's artifacts of the same init (the
  base's map summary stays). A base on another init means starting over (``Restart``).
- ``backfill``: its artifacts of an older init are listed beside the base's newest.

Earlier inits are carried forward from the base (``carried_forward``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq

from extraction.parquet_files import merge_points, parquet_bytes
from extraction.publish import PendingArtifact, carried_forward, write_artifact
from forecast_core.layout import ArtifactKind
from forecast_core.points import Point, point_set_hash
from forecast_core.published import read_artifact
from forecast_core.status import ManifestArtifact, RunManifest, SourceRunInfo
from forecast_core.store import ArtifactStore

RunKind = Literal["full", "points", "backfill"]

__all__ = ["Extracted", "Restart", "RunKind", "Superseded", "compose"]


class Restart(RuntimeError):
    """The run in force moved to data this run cannot merge into: extract again from it."""


class Superseded(RuntimeError):
    """The run in force already holds newer inits than this run extracted."""


@dataclass(slots=True)
class Extracted:
    """What a run extracted, ready to be listed on any base.

    ``written`` holds a full or backfill run's artifacts (written as they were encoded);
    ``tables`` a points run's tables of its own points only (merged into each base's)."""

    kind: RunKind
    infos: list[SourceRunInfo]
    point_ids: dict[str, set[str]]  # per source: the points this run extracted (rows replaced)
    points: dict[str, Point]  # every point this run covers, by id
    written: list[ManifestArtifact] = field(default_factory=list)
    tables: dict[tuple[str, str, ArtifactKind], pa.Table] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.written and not self.tables

    def init_of(self, source_id: str) -> datetime:
        return next(info.init_time for info in self.infos if info.source_id == source_id)


def compose(
    store: ArtifactStore,
    extracted: Extracted,
    base: RunManifest | None,
    current: dict[str, Point],
    *,
    run_id: str,
    created: datetime,
) -> RunManifest:
    """The manifest that lists ``extracted`` on ``base``; ``current`` is the enabled points now
    (ids → points). Raises Restart or Superseded (see the module docstring)."""
    if extracted.kind == "points":
        listed = _points_run(store, extracted, base, set(current))
        covered = {**{i: current[i] for i in (base.point_ids if base else []) if i in current}, **extracted.points}
    elif extracted.kind == "full":
        listed, covered = _full_run(store, extracted, base, current)
    else:
        listed, covered = list(extracted.written), _base_points(base, current) | extracted.points
    points = sorted(covered.values(), key=lambda point: point.point_id)
    return RunManifest(
        run_id=run_id,
        created_utc=created,
        previous_run_id=base.run_id if base else None,
        sources=_with_base_sources(extracted.infos, base),
        point_ids=[point.point_id for point in points],
        point_set_hash=point_set_hash(points),
        artifacts=sorted(listed, key=lambda item: item.key) + carried_forward(base, listed),
    )


def _base_points(base: RunManifest | None, current: dict[str, Point]) -> dict[str, Point]:
    return {i: current[i] for i in (base.point_ids if base else []) if i in current}


def _base_init(base: RunManifest | None, source_id: str) -> datetime | None:
    info = next((i for i in base.sources if i.source_id == source_id), None) if base else None
    return info.init_time if info else None


def _points_run(
    store: ArtifactStore, extracted: Extracted, base: RunManifest | None, current: set[str]
) -> list[ManifestArtifact]:
    listed: list[ManifestArtifact] = []
    for (source_id, variable_id, kind), table in sorted(extracted.tables.items()):
        init = extracted.init_of(source_id)
        published = base.artifact(source_id, variable_id, kind, init.date()) if base else None
        if base is not None and _base_init(base, source_id) not in (None, init):
            raise Restart(f"run {base.run_id} moved {source_id} to another init than {init:%Y-%m-%d %H}Z")
        if published is not None and kind == "map_summary":
            listed.append(published)  # a --points run keeps the published map (the next full run redraws it)
            continue
        if published is not None:
            table = merge_points(_table(store, published), table, kind, extracted.point_ids[source_id], current)
        listed.append(_write(store, source_id, variable_id, init, kind, table))
    return listed


def _full_run(
    store: ArtifactStore, extracted: Extracted, base: RunManifest | None, current: dict[str, Point]
) -> tuple[list[ManifestArtifact], dict[str, Point]]:
    for info in extracted.infos:
        newer = _base_init(base, info.source_id)
        if base is not None and newer is not None and newer > info.init_time:
            raise Superseded(f"run {base.run_id} already holds {info.source_id} {newer:%Y-%m-%d %H}Z")
    missing = {i: point for i, point in _base_points(base, current).items() if i not in extracted.points}
    if not missing or base is None:
        return list(extracted.written), dict(extracted.points)
    listed: list[ManifestArtifact] = []
    for item in extracted.written:
        if _base_init(base, item.source_id) != extracted.init_of(item.source_id):
            raise Restart(f"run {base.run_id} holds points {sorted(missing)} for another init of {item.source_id}")
        published = base.artifact(item.source_id, item.variable_id, item.kind, item.init_date)
        if published is None or item.kind == "map_summary":
            listed.append(item)
            continue
        ours = extracted.point_ids[item.source_id]
        merged = merge_points(_table(store, published), _table(store, item), item.kind, ours, set(current))
        listed.append(_write(store, item.source_id, item.variable_id, extracted.init_of(item.source_id), item.kind,
                             merged))  # fmt: skip
    return listed, {**extracted.points, **missing}


def _table(store: ArtifactStore, artifact: ManifestArtifact) -> pa.Table:
    return pq.read_table(pa.BufferReader(read_artifact(store, artifact)))


def _write(
    store: ArtifactStore, source_id: str, variable_id: str, init: datetime, kind: ArtifactKind, table: pa.Table
) -> ManifestArtifact:
    data = parquet_bytes(table, kind)
    return write_artifact(store, PendingArtifact(source_id, variable_id, init.date(), kind, data, table.num_rows))


def _with_base_sources(infos: list[SourceRunInfo], base: RunManifest | None) -> list[SourceRunInfo]:
    """This run's source infos plus the base's for sources this run did not extract (failed or
    not selected), whose artifacts are carried forward too; where the base describes a newer
    init (this run is a backfill), the base's info stays."""
    before = {info.source_id: info for info in (base.sources if base else [])}
    merged = [
        before[info.source_id]
        if info.source_id in before and before[info.source_id].init_time > info.init_time
        else info
        for info in infos
    ]
    done = {info.source_id for info in infos}
    kept = [info for source_id, info in before.items() if source_id not in done]
    return sorted([*merged, *kept], key=lambda info: info.source_id)
