"""Resident memory handed back by ``release_memory``'s purge after a large free; prints JSON.

Each repeat is a fresh child process with the server's allocator set-up
(``forecast_panel.memory.run_with_server_allocator``): it allocates ``--megabytes`` in 60 kB
blocks (the size class of Arrow buffers and session documents), frees them, and reads RSS
(psutil) before the allocation, at its peak, right after the free and right after
``return_free_pages`` (jemalloc's purge of every arena, or glibc's ``malloc_trim``). Two set-ups:
``jemalloc`` (preloaded with ``JEMALLOC_CONF``, as ``forecast-panel serve`` runs where it is
installed) and ``glibc`` (``PYTHONMALLOC=malloc`` without jemalloc, the fallback).

What it does not cover: a real server's heap (long-lived objects sharing pages with freed ones;
``bench_app_sessions`` and ``bench_app_browser`` measure that), and jemalloc's background thread
returning pages by itself after ``dirty_decay_ms``: the purge runs within milliseconds of the
free, so how much is already gone by then depends on scheduling — the spread across repeats.

Run: .venv/bin/python -m benchmarks.bench_memory_purge [--repeats 10] [--megabytes 120]
"""

from __future__ import annotations

import argparse
import ctypes.util
import json
import os
import statistics
import subprocess
import sys
from typing import Any

CHILD = """
import json, sys, psutil
from forecast_panel import memory
memory.run_with_server_allocator()
rss = lambda: psutil.Process().memory_info().rss
before = rss()
blocks = [bytearray(60_000) for _ in range(int(sys.argv[1]) * 1_000_000 // 60_000)]
peak = rss()
del blocks
freed = rss()
how = memory.return_free_pages()
after = rss()
print(json.dumps({"allocator": memory.allocator(), "how": how, "before": before, "peak": peak,
                  "freed": freed, "after": after}))
"""


def child_environment(setup: str) -> dict[str, str]:
    """The environment of one repeat: the server's own choice, or glibc's malloc forced."""
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONMALLOC", "LD_PRELOAD")}
    if setup == "glibc":
        environment["PYTHONMALLOC"] = "malloc"  # set, so the server keeps it and preloads nothing
    return environment


def one_run(setup: str, megabytes: int) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(megabytes)],
        env=child_environment(setup),
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, Any] = json.loads(result.stdout)
    return figures


def summary(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def measure(setup: str, megabytes: int, repeats: int) -> dict[str, Any]:
    runs = [one_run(setup, megabytes) for _ in range(repeats)]
    mb = 1e6

    def figure(name: str) -> dict[str, float]:
        return {key: round(value, 1) for key, value in summary([run[name] for run in runs]).items()}

    for run in runs:
        run["allocated_mb"] = (run["peak"] - run["before"]) / mb
        run["returned_by_free_mb"] = (run["peak"] - run["freed"]) / mb
        run["returned_by_purge_mb"] = (run["freed"] - run["after"]) / mb
        run["returned_total_mb"] = (run["peak"] - run["after"]) / mb
    return {
        "setup": setup,
        "allocator": runs[0]["allocator"],
        "purge": runs[0]["how"],
        "repeats": repeats,
        "allocated_mb": figure("allocated_mb"),
        "returned_by_free_mb": figure("returned_by_free_mb"),
        "returned_by_purge_mb": figure("returned_by_purge_mb"),
        "returned_total_mb": figure("returned_total_mb"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--megabytes", type=int, default=120)
    args = parser.parse_args()
    setups = ["jemalloc", "glibc"] if ctypes.util.find_library("jemalloc") else ["glibc"]
    results = [measure(setup, args.megabytes, args.repeats) for setup in setups]
    print(json.dumps({"megabytes_freed": args.megabytes, "results": results}, indent=2))


if __name__ == "__main__":
    main()
