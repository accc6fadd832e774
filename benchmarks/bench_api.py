"""Latency of the write-back API through `forecast-panel api` on a local-folder store; prints JSON.

Creates N points one after another (p50/p95 per create), lists them, then N more creates from 8
client threads (throughput; requests are served one at a time per server process), then N
duplicate creates (409 path). The server runs as a subprocess with targeted extraction off.

Run: .venv/bin/python -m benchmarks.bench_api [--points 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def _request(url: str, method: str = "GET", body: dict[str, object] | None = None) -> tuple[int, float]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            status = int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        status = error.code
    return status, time.perf_counter() - started


def _payload(index: int, name: str | None = None) -> dict[str, object]:
    # a grid 0.1° apart (~11 km): clear of the 0.5 km distance rule
    return {
        "point_name": name or f"Bench {index}",
        "latitude": -60.0 + (index // 100) * 0.1,
        "longitude": -170.0 + (index % 100) * 0.1,
        "created_by": "bench",
    }


def _summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def measure(points: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "POINTS_API_TARGETED_EXTRACTION": "0"}
        command = [sys.executable, "-m", "forecast_cli", "api", "--store", f"{tmp}/store", "--port", "0"]
        server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert server.stdout is not None
            base = server.stdout.readline().split()[3]
            # keep draining: the server logs JSON lines to stdout, and a full pipe would block it
            threading.Thread(target=server.stdout.read, daemon=True).start()
            sequential = [_request(f"{base}/points", "POST", _payload(index)) for index in range(points)]
            assert all(status == 201 for status, _ in sequential), "sequential creates must all succeed"
            listing = [_request(f"{base}/points") for _ in range(20)]
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=8) as pool:
                parallel = list(
                    pool.map(lambda i: _request(f"{base}/points", "POST", _payload(points + i)), range(points))
                )
            parallel_seconds = time.perf_counter() - started
            assert all(status == 201 for status, _ in parallel), "parallel creates must all succeed"
            duplicates = [_request(f"{base}/points", "POST", _payload(10_000 + i, "Bench 0")) for i in range(points)]
            assert all(status == 409 for status, _ in duplicates)
        finally:
            server.terminate()
            server.wait(timeout=15)
    return {
        "points": points,
        "create_sequential": _summary([seconds for _, seconds in sequential]),
        "create_sequential_last_50": _summary([seconds for _, seconds in sequential[-50:]]),
        "list_with_points": {"count": points, **_summary([seconds for _, seconds in listing])},
        "create_8_threads": {
            **_summary([seconds for _, seconds in parallel]),
            "requests_per_second": round(points / parallel_seconds, 1),
        },
        "duplicate_409": _summary([seconds for _, seconds in duplicates]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=200)
    args = parser.parse_args()
    results = {
        "benchmark": "api_local_folder",
        "load_average_1m": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
        "results": measure(args.points),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
