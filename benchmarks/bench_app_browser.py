"""Browser-side figures of the dashboard in headless Chromium (Debian's); prints JSON.

1. First load to interactive: ``goto`` until the title and the plot canvas are visible.
2. Selection → redrawn plot: point switches via the Point select, timed until the header names
   the new point (the plot data arrive in the same websocket message); websocket bytes received
   per interaction.
3. ``--sessions`` concurrent sessions (separate browser contexts) each switching points at
   once: per-switch latency; server RSS before, at peak and after they close.

Run: .venv/bin/python -m benchmarks.bench_app_browser [--store DIR] [--switches 40] [--sessions 20]
Without ``--store`` a demo-size store is built first (as in bench_app_server).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.bench_app_server import build_demo_store, percentiles

# Bokeh destroys a closed session at its next unused-session check (every 17 s) once it has been
# unused for 15 s; the app then releases memory within its 10 s throttle: 45 s covers all three.
SESSION_CLEANUP_SECONDS = 45
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ARGS += ["--disable-sync", "--no-first-run"]
SERVE = [sys.executable, "-m", "forecast_core.cli", "serve"]


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _rss_mb(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss) / 1e6


def _open(page: Any, url: str) -> float:
    started = time.perf_counter()
    page.goto(url)
    page.locator(".fp-title").first.wait_for()
    page.locator(".fp-main-plot .bk-Canvas").first.wait_for()
    return time.perf_counter() - started


def _point_labels(page: Any) -> list[str]:
    labels: list[str] = page.locator("select").nth(1).locator("option").all_inner_texts()
    return [label for label in labels if "pending" not in label]


def _switch(page: Any, label: str) -> None:
    page.locator("select").nth(1).select_option(label=label)


def _wait_header(page: Any, label: str) -> None:
    page.locator(".fp-title b").get_by_text(label, exact=True).first.wait_for(timeout=30000)


def measure(url: str, pid: int, switches: int, sessions: int) -> dict[str, Any]:
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
        _open(page, url)  # warm the server's process (imports, first artifact reads)
        loads = [_open(page, url) for _ in range(5)]
        result["first_load_to_interactive"] = percentiles(loads)
        labels = _point_labels(page)
        latencies, sizes = [], []
        for index in range(switches):
            label = labels[(index + 1) % len(labels)]
            if label == page.locator(".fp-title b").first.inner_text():
                continue
            before = received[0]
            started = time.perf_counter()
            _switch(page, label)
            _wait_header(page, label)
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => r(null)))")
            latencies.append(time.perf_counter() - started)
            time.sleep(0.05)
            sizes.append(received[0] - before)
        result["selection_to_redraw"] = percentiles(latencies)
        result["websocket_bytes_per_interaction"] = {"median": sorted(sizes)[len(sizes) // 2], "max": max(sizes)}
        context.close()
        if sessions:
            time.sleep(SESSION_CLEANUP_SECONDS)  # baseline: a warm idle server, its sessions destroyed
            baseline = _rss_mb(pid)
            contexts = [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in range(sessions)]
            pages = [item.new_page() for item in contexts]
            for item in pages:
                _open(item, url)
            peak = _rss_mb(pid)
            concurrent = []
            for round_ in range(3):
                targets = [labels[(round_ + index) % len(labels)] for index in range(sessions)]
                targets = [
                    label if label != item.locator(".fp-title b").first.inner_text() else labels[-1]
                    for label, item in zip(targets, pages, strict=True)
                ]
                started = time.perf_counter()
                for item, label in zip(pages, targets, strict=True):
                    _switch(item, label)
                for item, label in zip(pages, targets, strict=True):
                    _wait_header(item, label)
                    concurrent.append(time.perf_counter() - started)
            peak = max(peak, _rss_mb(pid))
            for session_context in contexts:
                session_context.close()
            time.sleep(SESSION_CLEANUP_SECONDS)
            after = _rss_mb(pid)
            result["concurrent_sessions"] = {
                "sessions": sessions,
                "switch_latency": percentiles(concurrent),
                "rss_mb_baseline": round(baseline, 1),
                "rss_mb_peak": round(peak, 1),
                "rss_mb_after_close": round(after, 1),
                "after_over_baseline": round(after / baseline, 3),
            }
        browser.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", help="store written by the pipeline (default: build a demo-size one)")
    parser.add_argument("--switches", type=int, default=40)
    parser.add_argument("--sessions", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("ICECHUNK_LOG", "error")
    with tempfile.TemporaryDirectory() as folder:
        store = args.store or str(build_demo_store(Path(folder)))
        port = _port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "forecast_core.cli",
                "serve",
                "--store",
                store,
                "--port",
                str(port),
                "--tiles",
                "none",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/liveness", timeout=2).close()
                    break
                except OSError:
                    time.sleep(0.3)
            result = measure(f"http://127.0.0.1:{port}/", server.pid, args.switches, args.sessions)
        finally:
            server.terminate()
            server.wait(timeout=20)
    result["benchmark"] = "app_browser"
    result["load_average_1m"] = os.getloadavg()[0]
    result["cpu_count"] = os.cpu_count()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
