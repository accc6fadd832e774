"""Alert evaluation after a run: 10,000 rules on a demo-size store; prints JSON.

Builds (unless ``--store`` is given) demo-size sample sources (GEFS 31 members × 181 leads, IFS
ENS 51 × 85), a local store with ``--points`` points spread over the sample region (seeded) and
extracts them with the real CLI (``--no-alerts``: the evaluation is timed here). Then writes
``--rules`` rules (``--rules / --points`` per point: probability of a total, of a minimum and a
maximum, and statistics at any / all times; half on the consensus, half on one source) and times:

- ``first``: the first evaluation — every rule starts unknown, so each one that holds fires and
  is delivered (the log channel: a record claimed and finished in the store per notification);
- ``steady``: the evaluation of the next run (``extract --force``: same data, a new run id), where
  no rule changes — the usual case after a run;
- ``recovered``: that run again after its status is deleted, as after a stop before the status
  was written (the states come back from the first run's notification records).

Run: .venv/bin/python -m benchmarks.bench_alerts [--store DIR] [--points 1000] [--rules 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

CLI = [sys.executable, "-m", "forecast_cli"]
WHEN = "2026-11-20T00:00:00Z"


def _cli(*args: str) -> None:
    """Run the CLI; exit 1 (published, with errors recorded in the status) is accepted."""
    env = {**os.environ, "ICECHUNK_LOG": "error"}
    done = subprocess.run([*CLI, *args], check=False, env=env, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"forecast-panel {args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")


def build_store(folder: Path, point_count: int, seed: int) -> Path:
    """Demo-size samples → a store with ``point_count`` seeded points → extract (no alerts)."""
    from forecast_core.points import PreCannedPoints

    _cli("sample-data", "--out", str(folder / "sources"), "--size", "demo")
    rng = np.random.default_rng(seed)
    rows = [
        {"point_id": f"p{index:05d}", "point_name": f"Point {index}", "latitude": float(rng.uniform(37.6, 42.4)),
         "longitude": float(rng.uniform(-109.4, -103.6)), "created_by": "bench", "created_utc": WHEN,
         "updated_utc": WHEN}
        for index in range(point_count)
    ]  # fmt: skip
    document = PreCannedPoints.model_validate_json(json.dumps({"generated_utc": WHEN, "points": rows}))
    points_file = folder / "points.json"
    points_file.write_text(document.model_dump_json())
    store = folder / "store"
    _cli("init-store", "--store", str(store), "--registry", str(folder / "sources" / "source_registry.json"),
         "--points", str(points_file))  # fmt: skip
    _cli("extract", "--store", str(store), "--no-progress", "--no-alerts")
    return store


def make_rules(point_ids: list[str], count: int, sources: list[str], seed: int) -> list[dict[str, Any]]:
    """``count`` rules over ``point_ids``: a mix of kinds, variables, windows and sources."""
    rng = np.random.default_rng(seed)
    templates: list[dict[str, object]] = [
        {"kind": "probability", "variable_id": "precipitation", "reduce": "total", "comparison": ">=", "unit": "mm",
         "min_probability": 50.0, "scale": 20.0},
        {"kind": "probability", "variable_id": "snowfall", "reduce": "total", "comparison": ">=", "unit": "mm",
         "min_probability": 30.0, "scale": 10.0},
        {"kind": "probability", "variable_id": "temperature_2m", "reduce": "min", "comparison": "<", "unit": "degC",
         "min_probability": 20.0, "scale": -30.0},
        {"kind": "probability", "variable_id": "wind_speed_10m", "reduce": "max", "comparison": ">", "unit": "m/s",
         "min_probability": 10.0, "scale": 20.0},
        {"kind": "statistic", "variable_id": "temperature_2m", "statistic": "median", "comparison": "<",
         "unit": "degC", "when": "any", "scale": -25.0},
        {"kind": "statistic", "variable_id": "wind_speed_10m", "statistic": "q90", "comparison": ">", "unit": "m/s",
         "when": "any", "scale": 15.0},
        {"kind": "statistic", "variable_id": "snowfall_total", "statistic": "median", "comparison": ">",
         "unit": "mm", "when": "all", "scale": 5.0},
    ]  # fmt: skip
    rules = []
    for index in range(count):
        template = dict(templates[index % len(templates)])
        scale = float(str(template.pop("scale")))
        condition = template | {
            "threshold": round(float(scale * rng.uniform(0.2, 1.2)), 2),
            "window": {"end_hours": float(rng.choice([24, 48, 72, 120, 240]))},
            "source": "consensus" if index % 2 == 0 else sources[index % len(sources)],
        }
        rules.append({"rule_id": f"rule-{index:012x}", "point_id": point_ids[index % len(point_ids)],
                      "condition": condition, "created_by": "bench", "created_utc": WHEN,
                      "updated_utc": WHEN})  # fmt: skip
    return rules


def timed(store: Any) -> dict[str, Any]:
    from forecast_alerts.notify import LogNotifier
    from forecast_alerts.run import evaluate_latest

    started = time.perf_counter()
    report = evaluate_latest(store, LogNotifier(store))
    wall = time.perf_counter() - started
    return {
        "outcome": report.outcome,
        "seconds": round(wall, 3),
        "steps": {name: round(value, 3) for name, value in report.timings.items()},
        "artifact_reads": report.artifact_reads,
        "fired": report.status.fired if report.status else 0,
        "deliveries": dict(report.deliveries),
    }


def run(store_path: Path, rule_count: int, seed: int) -> dict[str, Any]:
    import logging

    from forecast_core.alerts import AlertRules
    from forecast_core.layout import ALERT_RULES_KEY, ALERTS_STATUS_KEY
    from forecast_core.points import PreCannedPoints
    from forecast_core.published import read_latest
    from forecast_core.store import ArtifactStore

    logging.getLogger("forecast_alerts.notifications").setLevel(logging.WARNING)  # the log file keeps them
    store = ArtifactStore(str(store_path))
    manifest = read_latest(store)
    assert manifest is not None, "the store has no published run"
    points = store.read_model("dashboard/config/pre_canned_points.json", PreCannedPoints)
    point_ids = [point.point_id for point in points.points if point.point_id in set(manifest.point_ids)]
    rules = make_rules(point_ids, rule_count, [info.source_id for info in manifest.sources], seed)
    document = AlertRules.model_validate_json(json.dumps({"generated_utc": WHEN, "rules": rules}))
    store.write_bytes(ALERT_RULES_KEY, document.to_json_bytes())
    import shutil

    shutil.rmtree(store.path("alerts"), ignore_errors=True)  # no earlier evaluation: every rule starts unknown
    store.delete(ALERTS_STATUS_KEY)
    first = timed(store)
    _cli("extract", "--store", str(store_path), "--no-progress", "--no-alerts", "--force")
    steady = timed(store)
    store.delete(ALERTS_STATUS_KEY)
    recovered = timed(store)
    return {
        "rules": rule_count,
        "points": len(point_ids),
        "sources": [info.source_id for info in manifest.sources],
        "first": first,
        "steady": steady,
        "recovered": recovered,
        "load_average": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_alerts")
    parser.add_argument("--store", help="a store the pipeline wrote (default: build one in a temporary folder)")
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as folder:
        started = time.perf_counter()
        store = Path(args.store) if args.store else build_store(Path(folder), args.points, args.seed)
        built = time.perf_counter() - started
        result = run(store, args.rules, args.seed)
        result["build_seconds"] = round(built, 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
