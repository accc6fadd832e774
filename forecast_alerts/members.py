"""Member series of the rules' points, read from the run's ``points`` artifacts only.

Every artifact is read through ``forecast_core.published.read_artifact`` (the listed key,
checked against the manifest's sha256), at most once per evaluation, and only the rows of the
points that have rules (row-group statistics on ``point_id`` skip the rest). Rows are sorted by
(point, lead, member) (``forecast_core.parquet_schemas``), so each point's rows are one block
that reshapes to (lead, member).
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from forecast_core.consensus import MemberSeries, Pooled, alignment_of, consensus_sources, pool
from forecast_core.published import read_artifact
from forecast_core.registry import CONSENSUS_ID, CanonicalVariables, SourceRegistry
from forecast_core.status import RunManifest
from forecast_core.store import ArtifactStore

HOUR_NS = 3_600_000_000_000
Blocks = dict[str, tuple[np.ndarray, np.ndarray]]


def read_point_members(data: bytes, wanted: set[str]) -> tuple[np.datetime64 | None, Blocks]:
    """(init time, per wanted point id: (valid times, values (lead, member))) of a ``points``
    artifact's bytes. Only row groups whose ``point_id`` statistics may hold a wanted point are
    read, and of them only ``point_id`` and ``value`` when every point's block has the leads ×
    members of the first one (the writers' layout); otherwise leads and members too."""
    file = pq.ParquetFile(pa.BufferReader(data), read_dictionary=["point_id"])
    if file.num_row_groups == 0 or not wanted:
        return None, {}
    head = file.read_row_group(0, columns=["init_time", "point_id", "lead_hours", "ensemble_member"], use_threads=False)
    if head.num_rows == 0:
        return None, {}
    init = np.datetime64(head.column("init_time")[0].as_py().replace(tzinfo=None), "ns")
    groups = _groups_holding(file, sorted(wanted))
    if not groups:
        return init, {}
    table = file.read_row_groups(groups, columns=["point_id", "value"], use_threads=False)
    codes, names = _codes(table)
    edges = np.concatenate([[0], np.flatnonzero(codes[1:] != codes[:-1]) + 1, [codes.size]])
    shape = _first_block_shape(head)
    values = table.column("value").to_numpy()
    if shape is not None and np.all(np.diff(edges) == shape[0].size * shape[1]):
        lead_axis, member_count = shape
        times = init + (lead_axis * HOUR_NS).round().astype("timedelta64[ns]")
        cube = values.reshape(edges.size - 1, lead_axis.size, member_count)
        return init, {names[codes[begin]]: (times, cube[index]) for index, begin in enumerate(edges[:-1])
                      if names[codes[begin]] in wanted}  # fmt: skip
    full = file.read_row_groups(groups, columns=["lead_hours", "ensemble_member"], use_threads=False)
    leads, members = full.column("lead_hours").to_numpy(), full.column("ensemble_member").to_numpy()
    out: Blocks = {}
    for begin, end in itertools.pairwise(edges.tolist()):
        if names[codes[begin]] not in wanted:
            continue
        lead_axis, lead_index = np.unique(leads[begin:end], return_inverse=True)
        member_axis, member_index = np.unique(members[begin:end], return_inverse=True)
        matrix = np.full((lead_axis.size, member_axis.size), np.nan, dtype=np.float32)
        matrix[lead_index, member_index] = values[begin:end]
        out[names[codes[begin]]] = (init + (lead_axis * HOUR_NS).round().astype("timedelta64[ns]"), matrix)
    return init, out


def _groups_holding(file: pq.ParquetFile, wanted: list[str]) -> list[int]:
    """Row groups whose ``point_id`` min/max statistics may hold one of ``wanted`` (sorted)."""
    column = file.schema_arrow.get_field_index("point_id")
    groups = []
    for index in range(file.num_row_groups):
        stats = file.metadata.row_group(index).column(column).statistics
        if stats is None or not stats.has_min_max:
            groups.append(index)
            continue
        position = bisect.bisect_left(wanted, stats.min)
        if position < len(wanted) and wanted[position] <= stats.max:
            groups.append(index)
    return groups


def _codes(table: pa.Table) -> tuple[np.ndarray, list[str]]:
    """Dictionary codes of ``point_id`` over the whole table, and the dictionary."""
    ids = table.unify_dictionaries().column("point_id").combine_chunks()
    if not pa.types.is_dictionary(ids.type):
        ids = ids.dictionary_encode()
    return ids.indices.to_numpy(zero_copy_only=False), ids.dictionary.to_pylist()


def _first_block_shape(head: pa.Table) -> tuple[np.ndarray, int] | None:
    """(leads, member count) of the first point's block if it is every lead × every member in
    (lead, member) order; None otherwise."""
    codes, _ = _codes(head.select(["point_id"]))
    size = int(np.argmax(codes != codes[0])) if (codes != codes[0]).any() else codes.size
    leads = head.column("lead_hours").to_numpy()[:size]
    members = head.column("ensemble_member").to_numpy()[:size]
    lead_axis = np.unique(leads)
    if size % lead_axis.size:
        return None
    count = size // lead_axis.size
    if not np.array_equal(leads, np.repeat(lead_axis, count)) or not np.array_equal(
        members, np.tile(members[:count], lead_axis.size)
    ):
        return None
    return lead_axis, count


@dataclass
class RunMembers:
    """The members of one published run, for a set of points; pooled ensembles are cached."""

    store: ArtifactStore
    manifest: RunManifest
    variables: CanonicalVariables
    registry: SourceRegistry | None
    point_ids: set[str]
    reads: int = 0
    _series: dict[tuple[str, str], dict[str, MemberSeries]] = field(default_factory=dict)
    _pooled: dict[tuple[str, str, str], Pooled] = field(default_factory=dict)

    def consensus_sources(self) -> list[tuple[str, float]]:
        """(source id, weight) of the consensus (``forecast_core.consensus.consensus_sources``)."""
        return consensus_sources(self.registry, [info.source_id for info in self.manifest.sources])

    def series(self, source_id: str, variable_id: str, point_id: str) -> MemberSeries | None:
        key = (source_id, variable_id)
        if key not in self._series:
            self._series[key] = self._read(source_id, variable_id)
        return self._series[key].get(point_id)

    def _read(self, source_id: str, variable_id: str) -> dict[str, MemberSeries]:
        artifact = self.manifest.artifact(source_id, variable_id, "points")
        if artifact is None or not self.point_ids:
            return {}
        init, blocks = read_point_members(read_artifact(self.store, artifact), self.point_ids)
        self.reads += 1
        if init is None:
            return {}
        return {
            point_id: MemberSeries(source_id, init, times, np.asarray(matrix, dtype=np.float64))
            for point_id, (times, matrix) in blocks.items()
        }

    def ensemble(self, source: str, variable_id: str, point_id: str) -> Pooled:
        """The members a rule on ``source`` (a source id or ``consensus``) reads, aligned for
        the variable (per-step amounts, running totals or instantaneous values)."""
        key = (source, variable_id, point_id)
        found = self._pooled.get(key)
        if found is None:
            found = self._pooled[key] = self._pool(source, variable_id, point_id)
        return found

    def _pool(self, source: str, variable_id: str, point_id: str) -> Pooled:
        alignment = alignment_of(self.variables.get(variable_id), variable_id)
        chosen = self.consensus_sources() if source == CONSENSUS_ID else [(source, 1.0)]
        series = []
        for source_id, weight in chosen:
            found = self.series(source_id, variable_id, point_id) or _no_series(source_id)
            series.append(MemberSeries(source_id, found.init_time, found.valid_times, found.values, weight))
        return pool(series, alignment)


def _no_series(source_id: str) -> MemberSeries:
    """A source without rows for the point (pooling lists it as having no data)."""
    return MemberSeries(source_id, np.datetime64("NaT", "ns"), np.empty(0, "datetime64[ns]"), np.empty((0, 0)))
