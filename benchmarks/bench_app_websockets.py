"""20 concurrent dashboard sessions over real websockets, without browsers; prints JSON.

``forecast-panel serve`` runs as a subprocess (with ``--pin``: alone on the first CPU). Each
session (``forecast_smoke.dashboard_session``) is what a browser does on the wire, minus the
rendering: it loads the page (the server creates the session and its document), opens the
session's websocket with the page's token, pulls the document, tells the server the document is
ready (as BokehJS does once it has rendered the page), and then switches points by sending the
same ``PATCH-DOC`` a browser sends when the Point select changes. A switch is timed
from that message leaving until the page header names the new point and the meteogram's new
revision has arrived (the server sends every panel's data and the revision, then the header's
text, which Panel sends after the Bokeh models). The clients run on one asyncio loop, parse the
JSON frames and skip the binary ones, so 20 of them cost little CPU; the figures are the server's
answer time as a client on another machine would see it, queueing included, and the server's
CPU per switch.

Two rounds, both with ``--sessions`` sessions open at once:
- ``simultaneous``: every session switches at the same moment, ``--switches`` times (the
  worst case: the server works through the changes one after another);
- ``think_time``: every session switches ``--switches`` times after a random pause of 0.3–1.5 s
  (seeded), as ``bench_app_sessions`` does server side.

What browsers also send after a redraw (the plot ranges BokehJS computed, the page URL) is not
sent here; ``bench_app_browser`` measures with real browsers.

Run: .venv/bin/python -m benchmarks.bench_app_websockets --store demo-data/store [--sessions 20]
[--switches 5] [--pin]. Without ``--store`` a demo-size store is built first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
from typing import Any

from benchmarks.bench_app_browser import served_dashboard
from benchmarks.bench_app_server import percentiles
from forecast_smoke.dashboard_session import DashboardSession


async def simultaneous(sessions: list[DashboardSession], switches: int) -> list[float]:
    latencies: list[float] = []
    for step in range(switches):
        targets = [session.other_point(index + step) for index, session in enumerate(sessions)]
        latencies += await asyncio.gather(*(s.switch(t) for s, t in zip(sessions, targets, strict=True)))
        await asyncio.sleep(1.0)
    return latencies


async def think_time(sessions: list[DashboardSession], switches: int, seed: int) -> list[float]:
    generator = random.Random(seed)
    pauses = [[generator.uniform(0.3, 1.5) for _ in range(switches)] for _ in sessions]

    async def user(index: int, session: DashboardSession) -> list[float]:
        out = []
        for step, pause in enumerate(pauses[index]):
            await asyncio.sleep(pause)
            out.append(await session.switch(session.other_point(index + step + 3)))
        return out

    results = await asyncio.gather(*(user(index, session) for index, session in enumerate(sessions)))
    return [value for result in results for value in result]


def _cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def measure(base: str, pid: int, sessions: int, switches: int, seed: int) -> dict[str, Any]:
    warm = await DashboardSession.open(base)  # the server's first session loads lazily imported code
    for step in range(3):
        await warm.switch(warm.other_point(step))
    warm.close()
    opened = [await DashboardSession.open(base) for _ in range(sessions)]
    for index, session in enumerate(opened):  # each session's first redraw, one at a time
        await session.switch(session.other_point(index + 5))
    result: dict[str, Any] = {}
    for name, round_ in (
        ("simultaneous", simultaneous(opened, switches)),
        ("think_time", think_time(opened, switches, seed)),
    ):
        before = _cpu_seconds(pid)
        latencies = await round_
        cpu = (_cpu_seconds(pid) - before) / len(latencies)
        result[name] = {**percentiles(latencies), "server_cpu_ms_per_switch": round(cpu * 1000, 1)}
    for session in opened:
        session.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", help="store written by the pipeline (default: build a demo-size one)")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--switches", type=int, default=5, help="point switches per session and round")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--pin", action="store_true", help="server on the first CPU, the clients on the others")
    args = parser.parse_args()
    os.environ.setdefault("ICECHUNK_LOG", "error")
    with served_dashboard(args.store, args.pin) as served:
        result = asyncio.run(measure(served.url, served.pid, args.sessions, args.switches, args.seed))
    result.update(
        benchmark="app_websockets",
        sessions=args.sessions,
        switches_per_session=args.switches,
        goal="p95 ≤ 500 ms with 20 concurrent sessions",
        load_average_1m=os.getloadavg()[0],
        cpu_count=os.cpu_count(),
        server_cpus=served.server_cpus,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
