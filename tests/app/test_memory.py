"""The app's memory hand-back after sessions close (forecast_panel.memory)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pyarrow as pa
import pytest

from forecast_panel import memory


def test_arrow_allocates_with_the_system_allocator() -> None:
    memory.use_system_allocator()
    memory.use_system_allocator()  # idempotent
    assert pa.default_memory_pool().backend_name == "system"
    assert pa.array(range(1000)).sum().as_py() == 499500


def test_release_is_throttled_and_a_burst_ends_with_one_deferred_release(monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[float] = []
    monkeypatch.setattr(memory, "RELEASE_INTERVAL_SECONDS", 0.3)

    def collect() -> int:
        runs.append(time.monotonic())
        return 0

    monkeypatch.setattr(memory.gc, "collect", collect)
    assert memory.release_memory(force=True) is True
    assert [memory.release_memory() for _ in range(5)] == [False] * 5  # a burst of closing sessions
    assert len(runs) == 1
    deadline = time.monotonic() + 5
    while len(runs) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(runs) == 2, "the burst was not followed by one release"
    time.sleep(0.5)
    assert len(runs) == 2  # one deferred release for the whole burst, not one per call


REPORT_ALLOCATOR = (
    "from forecast_panel.memory import run_with_server_allocator; import os, sys; "
    "run_with_server_allocator(); print(os.environ.get('PYTHONMALLOC'), sys.argv[1:])"
)


@pytest.mark.parametrize(("given", "expected"), [(None, "malloc"), ("pymalloc", "pymalloc")])
def test_the_server_reexecutes_itself_with_its_allocator_unless_one_is_chosen(given: str | None, expected: str) -> None:
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONMALLOC"}
    if given:
        environment["PYTHONMALLOC"] = given
    result = subprocess.run(
        [sys.executable, "-c", REPORT_ALLOCATOR, "--port", "5006"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == f"{expected} ['--port', '5006']"  # same arguments after the re-exec
