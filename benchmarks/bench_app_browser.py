"""Browser-side figures of the dashboard in headless Chromium (Debian's); prints JSON.

1. First load to interactive: ``goto`` until the title and the plot canvas are visible.
2. Selection → redrawn meteogram (three panels, two sources): point switches via the Point
   select, timed until the header names the new point, the meteogram holds the redraw's revision
   (the server sends every panel's data and the revision, then the header's text, as separate
   messages that BokehJS applies in order) and the next frame is painted; websocket bytes
   received per interaction.
3. ``--bursts`` times, ``--sessions`` concurrent sessions (separate browser contexts) each
   switching points at once: per-switch latency; server RSS before, at peak and after they
   close. The first burst's figures lead; later bursts show whether memory keeps growing.

Latencies are read twice: in the page (until the new header is rendered), and on the wire
(``WireLog``: from the change message leaving Chromium's network stack to the last frame of the
server's reply arriving, as Chromium timestamps them). On a small machine the wire figure is the
server's, without the pages' rendering. ``--pin`` keeps the server on the first CPU and this
script, Playwright and Chromium on the others, as in production where browsers are elsewhere.

Run: .venv/bin/python -m benchmarks.bench_app_browser [--store DIR] [--switches 40] [--sessions 20] [--bursts 2] [--pin]
Without ``--store`` a demo-size store is built first (as in bench_app_server).
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.bench_app_server import build_demo_store, percentiles

# Bokeh destroys a closed session at its next unused-session check (every 17 s) once it has been
# unused for 15 s; the app then releases memory within its 10 s throttle: 45 s covers all three.
SESSION_CLEANUP_SECONDS = 45
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ARGS += ["--disable-sync", "--no-first-run"]
SERVE = [sys.executable, "-m", "forecast_cli", "serve"]
REVISION_EVENT = re.compile(r'"attr":"tags","new":\[\d+\]')


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class ServedDashboard:
    """A running ``forecast-panel serve``: its base URL (ending in ``/``), pid, and the CPUs
    the server and this process (and what it starts later) run on."""

    url: str
    pid: int
    server_cpus: list[int]
    client_cpus: list[int]


@contextlib.contextmanager
def served_dashboard(store: str | None, pin: bool) -> Iterator[ServedDashboard]:
    """``forecast-panel serve`` on a free port, tiles off, answering ``/liveness``; stopped on
    exit. Without ``store`` a demo-size store is built first. ``pin`` (with 2+ CPUs) keeps the
    server on the first CPU and this process on the others."""
    cpus = sorted(os.sched_getaffinity(0))
    pinned = pin and len(cpus) > 1
    with tempfile.TemporaryDirectory() as folder:
        store = store or str(build_demo_store(Path(folder)))
        port = _port()
        if pinned:
            os.sched_setaffinity(0, cpus[:1])  # inherited by the server
        server = subprocess.Popen(
            [*SERVE, "--store", store, "--port", str(port), "--tiles", "none"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if pinned:
            os.sched_setaffinity(0, cpus[1:])  # inherited by browsers and clients started later
        try:
            url = f"http://127.0.0.1:{port}/"
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{url}liveness", timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError(f"the dashboard server did not come up on {url}") from None
                    time.sleep(0.3)
            yield ServedDashboard(url, server.pid, cpus[:1] if pinned else cpus, cpus[1:] if pinned else cpus)
        finally:
            server.terminate()
            server.wait(timeout=20)


def _server_malloc(pid: int) -> str:
    """``jemalloc`` when the server process has it mapped (preloaded), else ``system``."""
    maps = Path(f"/proc/{pid}/maps")
    return "jemalloc" if maps.exists() and "libjemalloc" in maps.read_text() else "system"


def _rss_mb(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss) / 1e6


def _open(page: Any, url: str) -> float:
    started = time.perf_counter()
    page.goto(url)
    page.locator(".fp-title").first.wait_for()
    page.locator(".fp-panel-temperature .bk-Canvas").first.wait_for()
    return time.perf_counter() - started


def _point_labels(page: Any) -> list[str]:
    labels: list[str] = page.locator("select").nth(0).locator("option").all_inner_texts()
    return [label for label in labels if "pending" not in label]


def _switch(page: Any, label: str) -> None:
    page.locator("select").nth(0).select_option(label=label)


def _wait_header(page: Any, label: str) -> None:
    page.locator(".fp-title b").get_by_text(label, exact=True).first.wait_for(timeout=30000)


# The meteogram's layout carries the revision of its last redraw in ``tags`` (set after the
# header and every panel's data).
REVISION = """() => { for (const doc of Bokeh.documents) for (const model of doc.all_models)
    if (model.css_classes && model.css_classes.includes("fp-meteogram")) return model.tags[0] ?? 0; return -1 }"""


def _revision(page: Any) -> int:
    value: int = page.evaluate(REVISION)
    return value


def _wait_redrawn(page: Any, label: str, revision: int) -> None:
    """Until the header shows ``label`` and the meteogram holds a newer revision than ``revision``."""
    _wait_header(page, label)
    page.wait_for_function(f"() => ({REVISION})() > {revision}", timeout=30000)


@dataclass
class _Message:
    """One Bokeh protocol message: header, metadata and content text frames, then a text header
    and a binary payload frame per buffer (``num_buffers`` in the header)."""

    direction: str
    msgtype: str
    frames_left: int
    end: float
    text: str = ""


class WireLog:
    """One page's websocket messages, timed by Chromium's network stack (CDP ``Network`` events:
    monotonic seconds, taken when a frame leaves or arrives, not when the page handles it)."""

    def __init__(self, context: Any, page: Any) -> None:
        self.messages: list[_Message] = []
        self._unfinished: dict[str, _Message] = {}  # per direction, on the page's current socket
        session = context.new_cdp_session(page)
        session.on("Network.webSocketCreated", lambda _event: self._unfinished.clear())
        session.on("Network.webSocketFrameSent", lambda event: self._frame("sent", event))
        session.on("Network.webSocketFrameReceived", lambda event: self._frame("received", event))
        session.send("Network.enable")

    def _frame(self, direction: str, event: dict[str, Any]) -> None:
        frame, arrived = event["response"], float(event["timestamp"])
        text = frame["payloadData"] if frame["opcode"] == 1 else ""
        current = self._unfinished.pop(direction, None)
        if current is None:
            try:
                header = json.loads(text or "{}")
            except ValueError:  # not a header: counted as a one-message frame, never matched
                header = {"num_buffers": -1}
            frames = 2 + 2 * int(header.get("num_buffers", 0))
            current = _Message(direction, str(header.get("msgtype")), frames, arrived)
            self.messages.append(current)
        else:
            current.frames_left -= 1
            current.end = arrived
            current.text += text
        if current.frames_left:
            self._unfinished[direction] = current

    def mark(self) -> int:
        return len(self.messages)

    def reply_seconds(self, since: int, label: str, until: int | None = None) -> float | None:
        """From the first widget value change sent in ``messages[since:until]`` to the end of
        the reply that completes both the meteogram's new revision and the header naming ``label``
        (Panel sends the header's text after the Bokeh models' changes); None when either is
        missing. Other messages the page sends (the URL, ranges) are not the ends."""
        window = self.messages[since:until]
        changes = [i for i, item in enumerate(window) if item.direction == "sent" and '"attr":"value"' in item.text]
        if not changes:
            return None
        header = html.escape(html.escape(label))  # the header's HTML, escaped again as the pane's text
        named = revised = False
        for item in window[changes[0] + 1 :]:
            if item.direction != "received" or item.frames_left:
                continue
            named = named or header in item.text
            revised = revised or bool(REVISION_EVENT.search(item.text))
            if named and revised:
                return item.end - window[changes[0]].end
        return None


def _wire_percentiles(replies: list[float | None]) -> dict[str, Any]:
    timed = [value for value in replies if value is not None]
    return {**(percentiles(timed) if timed else {}), "timed": len(timed), "of": len(replies)}


def _burst(browser: Any, url: str, pid: int, labels: list[str], sessions: int) -> dict[str, Any]:
    """``sessions`` pages open at once and switch points together three times, then close; the
    server's RSS at peak and ``SESSION_CLEANUP_SECONDS`` after the close."""
    contexts = [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in range(sessions)]
    pages = [item.new_page() for item in contexts]
    wires = [WireLog(item, page) for item, page in zip(contexts, pages, strict=True)]
    for page in pages:
        _open(page, url)
    peak = _rss_mb(pid)
    latencies: list[float] = []
    replies: list[float | None] = []
    for round_ in range(3):
        targets = [labels[(round_ + index) % len(labels)] for index in range(sessions)]
        targets = [
            label if label != page.locator(".fp-title b").first.inner_text() else labels[-1]
            for label, page in zip(targets, pages, strict=True)
        ]
        marks = [wire.mark() for wire in wires]
        revisions = [_revision(page) for page in pages]
        started = time.perf_counter()
        for page, label in zip(pages, targets, strict=True):
            _switch(page, label)
        for page, label, revision in zip(pages, targets, revisions, strict=True):
            _wait_redrawn(page, label, revision)
            latencies.append(time.perf_counter() - started)
        pages[0].wait_for_timeout(500)  # the last network events reach Playwright (it runs only in its calls)
        replies += [wire.reply_seconds(mark, label) for wire, mark, label in zip(wires, marks, targets, strict=True)]
    peak = max(peak, _rss_mb(pid))
    for context in contexts:
        context.close()
    time.sleep(SESSION_CLEANUP_SECONDS)
    return {
        "switch_latency": percentiles(latencies),
        "switch_reply_on_the_wire": _wire_percentiles(replies),
        "rss_mb_peak": round(peak, 1),
        "rss_mb_after_close": round(_rss_mb(pid), 1),
    }


def measure(url: str, pid: int, switches: int, sessions: int, bursts: int = 1) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    result: dict[str, Any] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        received: list[int] = [0]

        def on_socket(socket_: Any) -> None:
            socket_.on("framereceived", lambda payload: received.__setitem__(0, received[0] + len(payload)))

        page.on("websocket", on_socket)
        wire = WireLog(context, page)
        _open(page, url)  # warm the server's process (imports, first artifact reads)
        loads = [_open(page, url) for _ in range(5)]
        result["first_load_to_interactive"] = percentiles(loads)
        labels = _point_labels(page)
        latencies, sizes, marks = [], [], []
        for index in range(switches):
            label = labels[(index + 1) % len(labels)]
            if label == page.locator(".fp-title b").first.inner_text():
                continue
            before = received[0]
            marks.append((wire.mark(), label))
            revision = _revision(page)
            started = time.perf_counter()
            _switch(page, label)
            _wait_redrawn(page, label, revision)
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => r(null)))")
            latencies.append(time.perf_counter() - started)
            time.sleep(0.05)
            sizes.append(received[0] - before)
        page.wait_for_timeout(500)  # the last network events reach Playwright
        ends = [mark for mark, _ in marks[1:]] + [None]
        replies = [wire.reply_seconds(mark, label, end) for (mark, label), end in zip(marks, ends, strict=True)]
        result["selection_to_redraw"] = percentiles(latencies)
        result["selection_reply_on_the_wire"] = _wire_percentiles(replies)
        result["websocket_bytes_per_interaction"] = {"median": sorted(sizes)[len(sizes) // 2], "max": max(sizes)}
        context.close()
        if sessions and bursts:
            time.sleep(SESSION_CLEANUP_SECONDS)  # baseline: a warm idle server, its sessions destroyed
            baseline = _rss_mb(pid)
            runs = [_burst(browser, url, pid, labels, sessions) for _ in range(bursts)]
            first = runs[0]
            result["concurrent_sessions"] = {
                "sessions": sessions,
                "switch_latency": first["switch_latency"],
                "switch_reply_on_the_wire": first["switch_reply_on_the_wire"],
                "rss_mb_baseline": round(baseline, 1),
                "rss_mb_peak": first["rss_mb_peak"],
                "rss_mb_after_close": first["rss_mb_after_close"],
                "after_over_baseline": round(first["rss_mb_after_close"] / baseline, 3),
                "later_bursts": [
                    {**run, "after_over_baseline": round(run["rss_mb_after_close"] / baseline, 3)} for run in runs[1:]
                ],
            }
        browser.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", help="store written by the pipeline (default: build a demo-size one)")
    parser.add_argument("--switches", type=int, default=40)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--bursts", type=int, default=2, help="rounds of --sessions, one after another")
    parser.add_argument("--pin", action="store_true", help="server on the first CPU, browsers on the others")
    parser.add_argument(
        "--query", default="", help='URL query of the page, e.g. \'sources=["gefs","ecmwf_ifs_ens","consensus"]\''
    )
    args = parser.parse_args()
    os.environ.setdefault("ICECHUNK_LOG", "error")
    with served_dashboard(args.store, args.pin) as served:
        url = f"{served.url}?{urllib.parse.quote(args.query, safe='=&')}" if args.query else served.url
        result = measure(url, served.pid, args.switches, args.sessions, args.bursts)
        result["server_malloc"] = _server_malloc(served.pid)
    result["benchmark"] = "app_browser"
    result["load_average_1m"] = os.getloadavg()[0]
    result["cpu_count"] = os.cpu_count()
    result["server_cpus"] = served.server_cpus
    result["browser_cpus"] = served.client_cpus
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
