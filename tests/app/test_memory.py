"""The app's memory hand-back after sessions close (forecast_panel.memory)."""

from __future__ import annotations

import ctypes.util
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
    "from forecast_panel import memory; import os, sys; memory.run_with_server_allocator(); "
    "print(os.environ.get('PYTHONMALLOC'), memory.allocator(), memory.release_memory(force=True), sys.argv[1:])"
)
JEMALLOC = ctypes.util.find_library("jemalloc")


@pytest.mark.parametrize(
    ("given", "expected"),
    [(None, f"malloc {'jemalloc' if JEMALLOC else 'system'}"), ("pymalloc", "pymalloc system")],
)
def test_the_server_reexecutes_itself_with_its_allocator_unless_one_is_chosen(given: str | None, expected: str) -> None:
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONMALLOC", "LD_PRELOAD")}
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
    # same arguments after the re-exec, and memory is released through the allocator in use
    assert result.stdout.strip() == f"{expected} True ['--port', '5006']"


def test_jemalloc_is_preloaded_with_its_settings_unless_already_chosen() -> None:
    assert memory.server_environment({}, None) == {"PYTHONMALLOC": "malloc"}
    assert memory.server_environment({}, "libjemalloc.so.2") == {
        "PYTHONMALLOC": "malloc",
        "LD_PRELOAD": "libjemalloc.so.2",
        "MALLOC_CONF": memory.JEMALLOC_CONF,
    }
    kept = memory.server_environment({"LD_PRELOAD": "libother.so", "MALLOC_CONF": "narenas:2"}, "libjemalloc.so.2")
    assert kept == {"PYTHONMALLOC": "malloc", "LD_PRELOAD": "libjemalloc.so.2 libother.so"}
    already = memory.server_environment({"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"}, "libjemalloc.so.2")
    assert already == {"PYTHONMALLOC": "malloc"}


@pytest.mark.skipif(JEMALLOC is None, reason="jemalloc is not installed (scripts/dev test installs libjemalloc2)")
def test_a_served_process_runs_on_jemalloc_and_returns_its_free_pages() -> None:
    """The settings reach jemalloc (read back through mallctl) and a purge after freeing a large
    allocation lowers RSS."""
    script = (
        "import ctypes, os, psutil; from forecast_panel import memory; memory.run_with_server_allocator(); "
        "f = memory._mallctl(); value = ctypes.c_ssize_t(); size = ctypes.c_size_t(8); "
        "f(b'arenas.dirty_decay_ms', ctypes.byref(value), ctypes.byref(size), None, 0); "
        "blocks = [bytearray(60_000) for _ in range(2000)]; high = psutil.Process().memory_info().rss; "
        "del blocks; memory.release_memory(force=True); low = psutil.Process().memory_info().rss; "
        "print(memory.allocator(), value.value, round((high - low) / 1e6))"
    )
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONMALLOC", "LD_PRELOAD")}
    result = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=120, check=True
    )
    name, decay, returned_mb = result.stdout.split()
    assert (name, decay) == ("jemalloc", "1000")
    assert int(returned_mb) >= 100  # of the 120 MB freed


FROZEN_CYCLE = """
import gc, weakref
from forecast_panel import memory

class Node:
    pass

node = Node(); node.self = node  # a reference cycle, as a closed session's models and document
alive = weakref.ref(node)
memory.freeze_heap()
del node
gc.collect()
kept_while_frozen = alive() is not None
memory.release_memory(force=True)
print(kept_while_frozen, alive() is None, gc.get_freeze_count() > 0)
"""


def test_frozen_cycles_are_collected_by_the_release_and_survivors_stay_frozen() -> None:
    result = subprocess.run(
        [sys.executable, "-c", FROZEN_CYCLE], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.split() == ["True", "True", "True"]
