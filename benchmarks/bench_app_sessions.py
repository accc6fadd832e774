"""20 concurrent dashboard sessions in one server process, server side only; prints JSON.

Builds 20 sessions the way ``panel serve`` does (one Bokeh document, ``OverviewState`` and
``OverviewView`` per session, one shared ``DataStore`` per process) and lets 20 simulated users
change point, variable, source set and init with a random think time (0.3–1.5 s, seeded). A
Bokeh server runs every session's work on its one IO-loop thread, so does this benchmark: users
hand their changes to a single "loop" thread. A change's latency is its wait for the loop plus
its own processing. Network, Bokeh's protocol work and browser rendering are not included, so
this understates a change's cost: ``bench_app_websockets.py`` measures 20 sessions over real
websockets, ``bench_app_browser.py`` real browsers end to end.

Memory: the baseline is a warm idle server: the app's allocator setting applied and one session
rendered through every scripted change and closed, so the shared artifact caches are full and
lazily imported code is loaded (a fresh process would count cache filling as session memory).
Then RSS after the 20 sessions are destroyed the way Panel's server destroys them (models
cleaned up, view forgotten, document cleared) followed by the app's own ``release_memory``, for
two rounds: a second round that does not grow RSS shows the remainder is a high-water mark, not
sessions leaking.

The benchmark runs with the server's allocator setting (``PYTHONMALLOC=malloc`` and jemalloc
where installed, as ``forecast-panel serve`` and the app image do; see forecast_panel/memory.py):
it re-executes itself with it unless ``PYTHONMALLOC`` is set. ``PYTHONMALLOC=pymalloc`` measures
Python's default allocator on glibc's malloc instead.

Run: .venv/bin/python -m benchmarks.bench_app_sessions --store demo-data/store [--sessions 20]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil

from benchmarks.bench_app_server import build_demo_store, percentiles, scripted_changes


def _session(datastore: Any) -> tuple[Any, Any, Any, Any]:
    import panel as pn
    from bokeh.document import Document

    from forecast_panel.state import OverviewState
    from forecast_panel.views.overview import OverviewView

    state = OverviewState(datastore)
    document = Document()
    layout = pn.Column(OverviewView(state))
    return state, layout, document, layout.get_root(document)


def _destroy(sessions: list[tuple[Any, Any, Any, Any]]) -> None:
    """What Panel's server does when a session is destroyed: clean up models, forget the view."""
    import panel as pn

    for _, layout, document, root in sessions:
        layout._cleanup(root)
        pn.state._views.pop(root.ref["id"], None)
        document.clear()
    sessions.clear()


def _round(loop: ThreadPoolExecutor, datastore: Any, sessions: int, changes_per_session: int, seed: int) -> list[float]:
    """One round: ``sessions`` sessions built, used concurrently, then destroyed as Panel does."""
    built = loop.submit(lambda: [_session(datastore) for _ in range(sessions)]).result()
    latencies: list[float] = []
    record = threading.Lock()

    def user(index: int) -> None:
        rng = random.Random(seed + index)
        state = built[index][0]
        for change in scripted_changes(state.selection, changes_per_session + index)[index:]:
            time.sleep(rng.uniform(0.3, 1.5))
            asked = time.perf_counter()
            loop.submit(state.selection.param.update, change).result()
            with record:
                latencies.append(time.perf_counter() - asked)

    threads = [threading.Thread(target=user, args=(index,)) for index in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    loop.submit(_destroy, built).result()
    return latencies


def _warm(datastore: Any, changes: int) -> None:
    """One session through every scripted change, then closed: caches full, code loaded."""
    session = _session(datastore)
    for change in scripted_changes(session[0].selection, changes):
        session[0].selection.param.update(change)
    _destroy([session])


def run(store: str, sessions: int, changes_per_session: int, seed: int) -> dict[str, Any]:
    from forecast_panel.app import load_extensions
    from forecast_panel.data import DataStore
    from forecast_panel.memory import release_memory, use_system_allocator

    load_extensions()
    use_system_allocator()
    process = psutil.Process()
    datastore = DataStore(store, manifest_ttl_seconds=3600)
    loop = ThreadPoolExecutor(max_workers=1, thread_name_prefix="io-loop")

    def settled_rss() -> int:
        loop.submit(release_memory, True).result()
        return int(process.memory_info().rss)

    loop.submit(_warm, datastore, 200).result()
    baseline = settled_rss()
    started = time.perf_counter()
    latencies = _round(loop, datastore, sessions, changes_per_session, seed)
    wall = time.perf_counter() - started
    after_first = settled_rss()
    _round(loop, datastore, sessions, changes_per_session, seed + 1000)
    after_second = settled_rss()
    loop.shutdown()
    return {
        "benchmark": "app_concurrent_sessions_server_side",
        "store": store,
        "sessions": sessions,
        "changes": len(latencies),
        "wall_seconds": round(wall, 2),
        "change_latency": percentiles(latencies),
        "rss_mb_baseline": round(baseline / 2**20, 1),
        "rss_mb_after_first_round_closed": round(after_first / 2**20, 1),
        "rss_mb_after_second_round_closed": round(after_second / 2**20, 1),
        "after_over_baseline": round(after_first / baseline, 3),
        "second_round_growth_mb": round((after_second - after_first) / 2**20, 1),
        "goal": "p95 ≤ 500 ms; RSS after close ≤ 1.05 × baseline",
    }


def main() -> None:
    from forecast_panel.memory import allocator, run_with_server_allocator

    run_with_server_allocator()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", help="store written by the pipeline (default: build a demo-size one)")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--changes", type=int, default=10, help="changes per session")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    os.environ.setdefault("ICECHUNK_LOG", "error")
    with tempfile.TemporaryDirectory() as folder:
        store = args.store or str(build_demo_store(Path(folder)))
        result = run(store, args.sessions, args.changes, args.seed)
    result["python_allocator"] = os.environ.get("PYTHONMALLOC", "pymalloc")
    result["malloc"] = allocator()
    result["load_average_1m"] = os.getloadavg()[0]
    result["cpu_count"] = os.cpu_count()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
