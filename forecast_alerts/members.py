"""Member series of the rules' points, read from the run's ``points`` artifacts only.

Every artifact is read through ``forecast_core.published.read_artifact`` (the listed key,
checked against the manifest's sha256), at most once per evaluation, and only the rows of the
points that have rules (row-group statistics on ``point_id`` skip the rest). Rows are sorted by
(point, lead, member) (``forecast_core.parquet_schemas``), so each point's rows are one block
that reshapes to (lead, member).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from forecast_core.consensus import Alignment, MemberSeries, Pooled, pool
from forecast_core.published import read_artifact
from forecast_core.registry import CONSENSUS_ID, CanonicalVariables, SourceRegistry
from forecast_core.status import RunManifest
from forecast_core.store import ArtifactStore

COLUMNS = ["point_id", "lead_hours", "ensemble_member", "value"]
HOUR_NS = 3_600_000_000_000


def point_blocks(table: pa.Table, init_time: np.datetime64) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per point id: (valid times, values (lead, member) as float64) of a points table sorted by
    (point, lead, member); a point missing some member at some lead gets NaN there."""
    if table.num_rows == 0:
        return {}
    table = table.unify_dictionaries().combine_chunks()
    ids = table.column("point_id").chunk(0)
    if not pa.types.is_dictionary(ids.type):
        ids = ids.dictionary_encode()
    codes = ids.indices.to_numpy(zero_copy_only=False)
    names = ids.dictionary.to_pylist()
    leads = table.column("lead_hours").to_numpy()
    members = table.column("ensemble_member").to_numpy()
    values = table.column("value").to_numpy(zero_copy_only=False).astype(np.float64)
    edges = [0, *(np.flatnonzero(codes[1:] != codes[:-1]) + 1).tolist(), len(codes)]
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for begin, end in itertools.pairwise(edges):
        block_leads, block_members, block = leads[begin:end], members[begin:end], values[begin:end]
        lead_axis, lead_index = np.unique(block_leads, return_inverse=True)
        member_axis, member_index = np.unique(block_members, return_inverse=True)
        if block.size == lead_axis.size * member_axis.size and np.array_equal(
            member_index, np.tile(np.arange(member_axis.size), lead_axis.size)
        ):
            matrix = block.reshape(lead_axis.size, member_axis.size)
        else:
            matrix = np.full((lead_axis.size, member_axis.size), np.nan)
            matrix[lead_index, member_index] = block
        times = init_time + (lead_axis * HOUR_NS).round().astype("timedelta64[ns]")
        out[names[codes[begin]]] = (times, matrix)
    return out


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

    def source_ids(self) -> list[str]:
        """The run's sources, in registry order where known."""
        listed = [info.source_id for info in self.manifest.sources]
        if self.registry is None:
            return sorted(listed)
        order = [entry.source_id for entry in self.registry.sources]
        return sorted(listed, key=lambda sid: (order.index(sid) if sid in order else len(order), sid))

    def consensus_sources(self) -> list[tuple[str, float]]:
        """(source id, weight) of the consensus: the run's sources the registry has enabled
        (every listed source with weight 1 when the store has no registry)."""
        weights = self.registry.consensus_weights() if self.registry else None
        listed = self.source_ids()
        if weights is None:
            return [(source_id, 1.0) for source_id in listed]
        return [(source_id, weights[source_id]) for source_id in listed if source_id in weights]

    def series(self, source_id: str, variable_id: str, point_id: str) -> MemberSeries | None:
        key = (source_id, variable_id)
        if key not in self._series:
            self._series[key] = self._read(source_id, variable_id)
        return self._series[key].get(point_id)

    def _read(self, source_id: str, variable_id: str) -> dict[str, MemberSeries]:
        artifact = self.manifest.artifact(source_id, variable_id, "points")
        if artifact is None or not self.point_ids:
            return {}
        data = read_artifact(self.store, artifact)
        self.reads += 1
        file = pq.ParquetFile(pa.BufferReader(data))
        first = file.read_row_group(0, columns=["init_time"]).column(0)
        if len(first) == 0:
            return {}
        init = np.datetime64(first[0].as_py().replace(tzinfo=None), "ns")
        table = pq.read_table(
            pa.BufferReader(data),
            columns=COLUMNS,
            filters=[("point_id", "in", sorted(self.point_ids))],
            read_dictionary=["point_id"],
        )
        return {
            point_id: MemberSeries(source_id, init, times, matrix)
            for point_id, (times, matrix) in point_blocks(table, init).items()
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
        alignment = alignment_of(self.variables, variable_id)
        chosen = self.consensus_sources() if source == CONSENSUS_ID else [(source, 1.0)]
        series = []
        for source_id, weight in chosen:
            found = self.series(source_id, variable_id, point_id) or _no_series(source_id)
            series.append(MemberSeries(source_id, found.init_time, found.valid_times, found.values, weight))
        return pool(series, alignment)


def alignment_of(variables: CanonicalVariables, variable_id: str) -> Alignment:
    """How ``variable_id``'s values pool: per-step amounts, running totals or instantaneous."""
    variable = variables.get(variable_id)
    if variable.is_running_total(variable_id):
        return "running_total"
    return "per_step" if variable.kind == "per_step" else "instant"


def _no_series(source_id: str) -> MemberSeries:
    """A source without rows for the point (pooling lists it as having no data)."""
    return MemberSeries(source_id, np.datetime64("NaT", "ns"), np.empty(0, "datetime64[ns]"), np.empty((0, 0)))
