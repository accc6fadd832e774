"""Server-side latency of the dashboard: parameter change → updated Bokeh plot objects; prints JSON.

Renders the overview (the meteogram's three panels and its probability strip) into a Bokeh
document, as a server session does, then makes scripted changes cycling point, unit system,
source set and init, and times each change until the new data are in the document's glyphs. Cold = first visit of each
combination (Parquet read + verify + decode); warm = the same 100 changes again from the cache.

Store: give one written by the real pipeline on the demo-size samples (2 sources, full GEFS
horizon); without ``--store`` the script builds one in a temporary folder
(sample-data → init-store → extract), which takes about a minute.

Runs with the server's allocator setting (``PYTHONMALLOC=malloc`` and jemalloc where installed,
see forecast_panel/memory.py), re-executing itself with it unless ``PYTHONMALLOC`` is set.

Run: .venv/bin/python -m benchmarks.bench_app_server [--store DIR] [--changes 100]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CLI = [sys.executable, "-m", "forecast_cli"]


def build_demo_store(folder: Path) -> Path:
    """sample-data (demo size) → init-store → extract, through the real CLI."""
    env = {**os.environ, "ICECHUNK_LOG": "error"}
    store = folder / "store"
    for args in (
        ["sample-data", "--out", str(folder / "sources"), "--size", "demo"],
        ["init-store", "--store", str(store), "--registry", str(folder / "sources" / "source_registry.json")],
        ["extract", "--store", str(store), "--no-progress"],
    ):
        subprocess.run([*CLI, *args], check=True, env=env, capture_output=True)
    return store


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def scripted_changes(selection: Any, count: int, consensus: bool = False) -> list[dict[str, Any]]:
    """``count`` selection changes cycling point, unit system, source set and init; with
    ``consensus`` every source set also shows the consensus (without it, none does)."""
    points = list(selection.param.point.objects)
    sources = [sid for sid in selection.param.sources.objects if sid != "consensus"]
    extra = ["consensus"] if consensus else []
    options = {
        "point": points,
        "units": ["imperial", "metric"],
        "sources": [sources + extra, sources[:1] + extra, (sources[1:] or sources) + extra],
        "init": list(selection.param.init.objects),
    }
    cycle = itertools.cycle(options)
    counters = dict.fromkeys(options, 0)
    changes = []
    for _ in range(count):
        name = next(cycle)
        counters[name] += 1
        changes.append({name: options[name][counters[name] % len(options[name])]})
    return changes


def run(store: str, count: int, consensus: bool = False) -> dict[str, Any]:
    import panel as pn
    from bokeh.document import Document

    from forecast_panel.app import load_extensions
    from forecast_panel.data import DataStore
    from forecast_panel.state import OverviewState
    from forecast_panel.views.overview import OverviewView

    load_extensions()
    datastore = DataStore(store, manifest_ttl_seconds=3600)
    state = OverviewState(datastore)
    if consensus:
        state.selection.sources = [*state.selection.sources, "consensus"]
    view = OverviewView(state)
    document = Document()
    started = time.perf_counter()
    root = pn.Column(view).get_root(document)
    first_render = time.perf_counter() - started
    changes = scripted_changes(state.selection, count, consensus)
    timings: dict[str, list[float]] = {"cold": [], "warm": [], "warm_cpu": []}
    for phase in ("cold", "warm"):
        for change in changes:
            started, cpu = time.perf_counter(), time.thread_time()
            state.selection.param.update(change)
            timings[phase].append(time.perf_counter() - started)
            if phase == "warm":
                timings["warm_cpu"].append(time.thread_time() - cpu)
    manifest = datastore.manifest()
    assert manifest is not None and root is not None
    gefs = next(item for item in manifest.sources if item.source_id == "gefs")
    return {
        "benchmark": "app_server_param_change_to_plot_objects",
        "store": store,
        "changes": count,
        "sources": [item.source_id for item in manifest.sources],
        "gefs_expected_lead_hours": gefs.expected_lead_hours,
        "points": len(manifest.point_ids),
        "panels": list(state.selection.panels),
        "consensus": consensus,
        "first_render_ms": round(first_render * 1000, 1),
        "cold": percentiles(timings["cold"]),
        "warm": percentiles(timings["warm"]),
        "warm_cpu": percentiles(timings["warm_cpu"]),  # this thread's CPU time: less sensitive to other load
        "artifact_reads": datastore.reads,
    }


def main() -> None:
    from forecast_panel.memory import allocator, run_with_server_allocator

    run_with_server_allocator()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", help="store written by the pipeline (default: build a demo-size one)")
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--consensus", action="store_true", help="show the consensus in every source set")
    args = parser.parse_args()
    os.environ.setdefault("ICECHUNK_LOG", "error")
    with tempfile.TemporaryDirectory() as folder:
        store = args.store or str(build_demo_store(Path(folder)))
        result = run(store, args.changes, args.consensus)
    result["python_allocator"] = os.environ.get("PYTHONMALLOC", "pymalloc")
    result["malloc"] = allocator()
    result["load_average_1m"] = os.getloadavg()[0]
    result["cpu_count"] = os.cpu_count()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
