"""Where to compute the consensus: in the app from the members it reads, or as an artifact; prints JSON.

For ``--points`` points of a store the pipeline wrote (``--store``; default: the demo store built
like ``bench_app_server`` does) and every published output variable, it measures the two ways a
dashboard interaction could get the consensus boxes and a probability:

- ``app``: from the member tables the app already reads (the DataStore's cached Arrow table of
  the point, as numpy columns: what the probability strip and the daily boxes use) →
  ``MemberSeries`` per source →
  ``consensus.pool`` → ``consensus.summary`` and one ``consensus.probability``. Time per point and
  variable, and per interaction (all variables of the meteogram's panels);
- ``artifact``: what the pipeline would publish instead: a consensus table per variable (one row
  per point and shared valid time: the summary columns plus probabilities at the variable's
  configured thresholds), built from whole artifacts read once (``forecast_alerts.members``)
  and written with the pipeline's own Parquet writer, and read back by the
  app one point at a time (``pyarrow`` filter on ``point_id``, as the DataStore reads a summary):
  the build time for all points (the extraction's added work), its bytes, and the read time.

Both give the browser the same boxes, so the bytes per interaction do not depend on the choice:
the script reports the payload the consensus adds (its box columns as float64/datetime arrays,
the form Bokeh sends them in). Arbitrary thresholds (a rule's, a probability strip's) need the
members in either case.

Run: .venv/bin/python -m benchmarks.bench_consensus [--store DIR] [--points 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_app_server import percentiles


def point_columns(datastore: Any, source_id: str, variable_id: str, point_id: str) -> dict[str, Any] | None:
    """One point's member rows as numpy columns, from the run's cached Arrow table (what the
    meteogram reads through ``DataStore.point_table``)."""
    table = datastore.point_table("points", source_id, variable_id, point_id)
    if table is None or table.num_rows == 0:
        return None
    names = ("valid_time", "ensemble_member", "value", "init_time")
    return {name: table.column(name).to_numpy() for name in names}


def consensus_of(datastore: Any, sources: list[tuple[str, float]], variable_id: str, point_id: str) -> Any:
    """The app's way: the member columns it holds → pooled consensus (module docstring)."""
    from forecast_core.consensus import alignment_of, member_series, pool

    series = []
    for source_id, weight in sources:
        columns = point_columns(datastore, source_id, variable_id, point_id)
        if columns is None:
            continue
        series.append(member_series(source_id, columns["valid_time"], columns["ensemble_member"], columns["value"],
                                    columns["init_time"][0], weight))  # fmt: skip
    return pool(series, alignment_of(datastore.variables().get(variable_id), variable_id))


def run(store: str, point_count: int, seed: int) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from forecast_core import consensus
    from forecast_panel.data import DataStore

    datastore = DataStore(store)
    manifest = datastore.manifest()
    assert manifest is not None, "no published run"
    registry = datastore.registry()
    weights = registry.consensus_weights() if registry else {}
    sources = [(info.source_id, weights.get(info.source_id, 1.0)) for info in manifest.sources]
    variables = datastore.variables()
    published = {item.variable_id for item in manifest.artifacts}
    variable_ids = [vid for vid in variables.output_variable_ids() if vid in published]
    rng = np.random.default_rng(seed)
    points = sorted(rng.choice(manifest.point_ids, size=min(point_count, len(manifest.point_ids)), replace=False))
    for point_id in points:  # warm the member cache, as the app's earlier views have
        for variable_id in variable_ids:
            consensus_of(datastore, sources, variable_id, point_id)
    per_variable, per_interaction, boxes = [], [], []
    for point_id in points:
        started = time.perf_counter()
        for variable_id in variable_ids:
            begun = time.perf_counter()
            pooled = consensus_of(datastore, sources, variable_id, point_id)
            consensus.summary(pooled)
            consensus.probability(pooled.values, pooled.weights, ">", 1.0)
            per_variable.append(time.perf_counter() - begun)
            boxes.append(pooled.valid_times.size)
        per_interaction.append(time.perf_counter() - started)

    # the artifact way: build one table per variable for every point, then read one point back
    from extraction.parquet_files import parquet_bytes

    build_seconds, artifact_bytes, reads = 0.0, 0, []
    from forecast_alerts.members import RunMembers

    bulk = RunMembers(datastore.store, manifest, variables, registry, set(manifest.point_ids))
    for variable_id in variable_ids:
        begun = time.perf_counter()
        table = _consensus_table(bulk, variable_id, list(manifest.point_ids), variables)
        data = parquet_bytes(table, "ensemble_summary")
        build_seconds += time.perf_counter() - begun
        artifact_bytes += len(data)
        for point_id in points:
            begun = time.perf_counter()
            pq.read_table(pa.BufferReader(data), filters=[("point_id", "==", point_id)])
            reads.append(time.perf_counter() - begun)
    box_columns = 12  # x0, x1, seven statistics, members, valid, colour index
    return {
        "points_in_store": len(manifest.point_ids),
        "points_timed": len(points),
        "variables": variable_ids,
        "sources": [source for source, _ in sources],
        "app": {
            "per_point_and_variable": percentiles(per_variable),
            "per_interaction_all_variables": percentiles(per_interaction),
        },
        "artifact": {
            "build_seconds_all_points": round(build_seconds, 2),
            "bytes_all_variables": artifact_bytes,
            "bytes_per_point_and_variable": round(artifact_bytes / len(variable_ids) / len(manifest.point_ids)),
            "read_one_point_cold": percentiles(reads),
        },
        "consensus_boxes_per_variable": int(statistics.median(boxes)),
        "payload_bytes_per_variable": int(statistics.median(boxes)) * box_columns * 8,
    }


def _consensus_table(bulk: Any, variable_id: str, point_ids: list[str], variables: Any) -> Any:
    """The consensus artifact an extraction step would write (from whole artifacts read once,
    as a pipeline step would): summary + probabilities at the variable's thresholds."""
    import pyarrow as pa

    from forecast_core import consensus

    thresholds = list(variables.get(variable_id).exceedance_thresholds)
    columns: dict[str, list[Any]] = {name: [] for name in ("source_id", "variable_id", "point_id", "init_time",
                                                           "valid_time", "lead_hours", "member_count")}  # fmt: skip
    stats: dict[str, list[Any]] = {}
    for point_id in point_ids:
        pooled = bulk.ensemble("consensus", variable_id, point_id)
        if pooled.empty or pooled.init_time is None:
            continue
        summary = consensus.summary(pooled)
        extra = {
            f"p_gt_{value:g}": consensus.probability(pooled.values, pooled.weights, ">", value) for value in thresholds
        }
        count = pooled.valid_times.size
        columns["source_id"] += ["consensus"] * count
        columns["variable_id"] += [variable_id] * count
        columns["point_id"] += [point_id] * count
        columns["init_time"] += [pooled.init_time] * count
        columns["valid_time"] += list(pooled.valid_times)
        columns["lead_hours"] += list((pooled.valid_times - pooled.init_time) / np.timedelta64(1, "h"))
        columns["member_count"] += list(summary["member_count"].astype(int))
        for name, values in {**{k: v for k, v in summary.items() if k != "member_count"}, **extra}.items():
            stats.setdefault(name, []).extend(values.astype("float32"))
    timestamp = pa.timestamp("us", tz="UTC")
    arrays = {
        "source_id": pa.array(columns["source_id"]),
        "variable_id": pa.array(columns["variable_id"]),
        "point_id": pa.array(columns["point_id"]),
        "init_time": pa.array(np.array(columns["init_time"], dtype="datetime64[us]")).cast(timestamp),
        "valid_time": pa.array(np.array(columns["valid_time"], dtype="datetime64[us]")).cast(timestamp),
        "lead_hours": pa.array(np.array(columns["lead_hours"], dtype="float64")),
        **{name: pa.array(np.array(values, dtype="float32")) for name, values in stats.items()},
        "member_count": pa.array(np.array(columns["member_count"], dtype="int16")),
    }
    return pa.table(arrays)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_consensus")
    parser.add_argument("--store", help="a store the pipeline wrote (default: build the demo store)")
    parser.add_argument("--points", type=int, default=20)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-consensus-") as folder:
        if args.store:
            store = args.store
        else:
            from benchmarks.bench_app_server import build_demo_store

            store = str(build_demo_store(Path(folder)))
        print(json.dumps(run(store, args.points, args.seed), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
