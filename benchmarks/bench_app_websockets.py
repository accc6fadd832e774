"""20 concurrent dashboard sessions over real websockets, without browsers; prints JSON.

``forecast-panel serve`` runs as a subprocess (with ``--pin``: alone on the first CPU). Each
session is what a browser does on the wire, minus the rendering: it loads the page (the server
creates the session and its document), opens the session's websocket with the page's token,
pulls the document, tells the server the document is ready (as BokehJS does once it has rendered
the page), and then switches points by sending the same ``PATCH-DOC`` a browser sends
when the Point select changes. A switch is timed from that message leaving until the page header
names the new point and the meteogram's new revision has arrived (the server sends every panel's
data and the revision, then the header's text, which Panel sends after the Bokeh models). The
clients run on one asyncio loop, parse the JSON frames and skip the binary ones, so 20 of them
cost little CPU; the figures are the server's answer time as a
client on another machine would see it, queueing included, and the server's CPU per switch.

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
import html
import itertools
import json
import os
import random
import re
import time
import urllib.request
from typing import Any

from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from benchmarks.bench_app_browser import served_dashboard
from benchmarks.bench_app_server import percentiles

TOKEN = re.compile(r'"token":\s*"([^"]+)"')
SWITCH_TIMEOUT_SECONDS = 60.0  # a reply that never comes fails the benchmark, never hangs it
_message_ids = itertools.count(1)
# The event BokehJS sends once the page's document is rendered; until it arrives Panel treats the
# session as not yet connected and defers every pane update to callbacks of their own.
DOCUMENT_READY = {
    "kind": "MessageSent",
    "msg_type": "bokeh_event",
    "msg_data": {"type": "event", "name": "document_ready", "values": {"type": "map", "entries": []}},
}


class Session:
    """One dashboard session spoken to in Bokeh's websocket protocol (header, metadata and
    content text frames, then a text header and a binary frame per buffer)."""

    def __init__(self, connection: WebSocketClientConnection) -> None:
        self.connection = connection
        self.document: dict[str, Any] = {}
        self.point_select = ""
        self.labels: dict[str, str] = {}  # option value → its label (the plot title starts with it)
        self.current = ""  # the selected point

    @classmethod
    async def open(cls, base: str) -> Session:
        page = await asyncio.to_thread(lambda: urllib.request.urlopen(base, timeout=60).read().decode())
        match = TOKEN.search(page)
        if match is None:
            raise RuntimeError("no session token in the page")
        origin = base.rstrip("/")
        request = HTTPRequest(origin.replace("http", "ws", 1) + "/ws", headers={"Origin": origin})
        connection = await websocket_connect(request, subprotocols=["bokeh", match.group(1)])
        session = cls(connection)
        await session.receive()  # ACK
        await session.send("PULL-DOC-REQ", {})
        _, content = await session.receive()
        session.document = content["doc"]
        session._find_point_select()
        ready = await session.send("PATCH-DOC", {"events": [DOCUMENT_READY]})  # as BokehJS does once rendered
        while (await session.receive())[0].get("reqid") != ready:  # until the server's OK
            pass
        return session

    def _find_point_select(self) -> None:
        for model in _models(self.document):
            attributes = model.get("attributes", {})
            if str(model.get("name")).endswith("Select") and attributes.get("title") == "Point":
                self.point_select = model["id"]
                self.current = str(attributes.get("value"))
                for option in attributes.get("options", []):
                    value, label = option if isinstance(option, list) else (option, option)
                    if "pending" not in str(label):  # no forecast yet: nothing to redraw
                        self.labels[str(value)] = str(label)
        if not self.point_select:
            raise RuntimeError("no Point select in the document")

    async def send(self, msgtype: str, content: dict[str, Any]) -> str:
        """Send one message; returns its id (the server's reply names it as ``reqid``)."""
        header = {"msgid": str(next(_message_ids)), "msgtype": msgtype}
        for part in (header, {}, content):
            await self.connection.write_message(json.dumps(part))
        return header["msgid"]

    async def receive(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The next whole message: its header and content (buffers are read and dropped)."""
        header = json.loads(await self._frame())
        await self._frame()  # metadata
        content = json.loads(await self._frame())
        for _ in range(2 * int(header.get("num_buffers", 0))):
            await self._frame()
        return header, content

    async def _frame(self) -> str | bytes:
        frame = await self.connection.read_message()
        if frame is None:
            raise ConnectionError("the server closed the session")
        return frame

    def other_point(self, offset: int) -> str:
        """A point other than the selected one (``offset`` ≥ 0 picks which)."""
        values = sorted(self.labels)
        if len(values) < 2:
            raise RuntimeError("the store needs two points with a forecast to switch between")
        start = values.index(self.current) if self.current in values else 0
        return values[(start + 1 + offset % (len(values) - 1)) % len(values)]

    async def switch(self, value: str) -> float:
        """Seconds from sending the Point select's new value to the end of the reply that
        redraws the page for it (``SWITCH_TIMEOUT_SECONDS`` at most)."""
        started = time.perf_counter()
        await asyncio.wait_for(self.switch_events(value), SWITCH_TIMEOUT_SECONDS)
        return time.perf_counter() - started

    async def switch_events(self, value: str) -> list[dict[str, Any]]:
        """Send the Point select's new value; return the events the server sent until the header
        names the new point and the meteogram's revision follows (the reply's user-visible end)."""
        if value == self.current:
            raise ValueError(f"{value!r} is already selected: the server would not redraw")
        label = self.labels[value]
        event = {"kind": "ModelChanged", "model": {"id": self.point_select}, "attr": "value", "new": value}
        await self.send("PATCH-DOC", {"events": [event]})
        received: list[dict[str, Any]] = []
        redrawn = header = False
        while not (redrawn and header):
            kind, content = await self.receive()
            if kind.get("msgtype") != "PATCH-DOC":
                continue
            for item in content.get("events", []):
                received.append(item)
                text = str(item.get("new", "")) if item.get("attr") == "text" else ""
                header = header or (f"&gt;{html.escape(html.escape(label))}&lt;/b&gt;" in text)
                redrawn = redrawn or is_revision(item)
        self.current = value
        return received

    def close(self) -> None:
        self.connection.close()


def is_revision(event: dict[str, Any]) -> bool:
    """Whether a patch event is the meteogram's new revision (its layout's ``tags``: set after
    every panel's data)."""
    new = event.get("new")
    return event.get("attr") == "tags" and isinstance(new, list) and len(new) == 1 and isinstance(new[0], int)


def _models(node: Any) -> list[dict[str, Any]]:
    """Every serialised model (``type: object`` with an id) anywhere in a document."""
    found: list[dict[str, Any]] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("type") == "object" and "id" in item:
                found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


async def simultaneous(sessions: list[Session], switches: int) -> list[float]:
    latencies: list[float] = []
    for step in range(switches):
        targets = [session.other_point(index + step) for index, session in enumerate(sessions)]
        latencies += await asyncio.gather(*(s.switch(t) for s, t in zip(sessions, targets, strict=True)))
        await asyncio.sleep(1.0)
    return latencies


async def think_time(sessions: list[Session], switches: int, seed: int) -> list[float]:
    generator = random.Random(seed)
    pauses = [[generator.uniform(0.3, 1.5) for _ in range(switches)] for _ in sessions]

    async def user(index: int, session: Session) -> list[float]:
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
    warm = await Session.open(base)  # the server's first session loads lazily imported code
    for step in range(3):
        await warm.switch(warm.other_point(step))
    warm.close()
    opened = [await Session.open(base) for _ in range(sessions)]
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
