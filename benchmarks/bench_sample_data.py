"""Time `forecast-panel sample-data` at demo and tiny size; prints JSON.

Run: .venv/bin/python -m benchmarks.bench_sample_data [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from extraction.sample_sources.cli import write_samples


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def measure(size: str, repeats: int) -> dict[str, object]:
    durations = []
    size_bytes = 0
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            write_samples(tmp, size=size)  # type: ignore[arg-type]
            durations.append(time.perf_counter() - started)
            size_bytes = _folder_bytes(Path(tmp))
    return {
        "size": size,
        "repeats": repeats,
        "seconds_median": round(statistics.median(durations), 3),
        "seconds_max": round(max(durations), 3),
        "bytes_on_disk": size_bytes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("ICECHUNK_LOG", "error")
    results = {
        "benchmark": "sample_data",
        "load_average_1m": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
        "results": [measure("demo", args.repeats), measure("tiny", args.repeats)],
        "goal": "demo size under 60 s on a 2-core machine",
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
