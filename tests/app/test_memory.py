"""The app's memory hand-back after sessions close (forecast_panel.memory)."""

from __future__ import annotations

import ctypes.util
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable

import pyarrow as pa
import pytest

from forecast_panel import memory


def test_arrow_allocates_with_the_system_allocator() -> None:
    memory.use_system_allocator()
    memory.use_system_allocator()  # idempotent
    assert pa.default_memory_pool().backend_name == "system"
    assert pa.array(range(1000)).sum().as_py() == 499500


class ManualClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


Scheduled = list[tuple[float, Callable[[], None]]]


def _throttle(clock: ManualClock, **options: object) -> tuple[memory.ReleaseThrottle, list[float], Scheduled]:
    """A throttle over ``clock`` releasing every 10 s at most, with the times it released at and
    the (delay, action) pairs it scheduled instead of starting timers."""
    runs: list[float] = []
    scheduled: Scheduled = []
    throttle = memory.ReleaseThrottle(
        lambda: runs.append(clock.now),
        interval=10.0,
        clock=clock,
        schedule=lambda delay, action: scheduled.append((delay, action)),
        **options,  # type: ignore[arg-type]
    )
    return throttle, runs, scheduled


def test_release_is_throttled_and_a_burst_ends_with_one_deferred_release() -> None:
    clock = ManualClock(100.0)
    throttle, runs, scheduled = _throttle(clock)
    assert throttle(force=True) is True and runs == [100.0]
    clock.now = 103.0
    assert [throttle() for _ in range(5)] == [False] * 5  # a burst of closing sessions
    assert runs == [100.0]
    assert [delay for delay, _ in scheduled] == [7.0], "one release, scheduled for the end of the interval"
    clock.now = 110.0
    scheduled.pop()[1]()  # the timer fires
    assert runs == [100.0, 110.0] and scheduled == []
    clock.now = 115.0
    assert throttle() is False and [delay for delay, _ in scheduled] == [5.0]  # throttled from the deferred one
    scheduled.clear()
    clock.now = 200.0  # a quiet interval later a close releases at once, nothing deferred
    assert throttle() is True and runs[-1] == 200.0 and scheduled == []
    assert throttle(force=True) is True and runs[-1] == 200.0 and len(runs) == 4


def test_a_release_waits_for_quiet_sessions_and_at_most_max_wait() -> None:
    clock = ManualClock(100.0)
    active = ManualClock(99.5)  # the last session activity
    throttle, runs, scheduled = _throttle(clock, quiet=2.0, max_wait=30.0, last_activity=active)
    assert throttle() is False and runs == []  # a session was active 0.5 s ago
    assert [delay for delay, _ in scheduled] == [1.5], "checked again when it may be quiet"
    assert throttle() is False and len(scheduled) == 1  # one release pending, not two
    clock.now, active.now = 101.5, 101.0  # active again meanwhile
    scheduled.pop()[1]()
    assert runs == [] and [delay for delay, _ in scheduled] == [1.5]
    clock.now = 103.0  # quiet for 2 s
    scheduled.pop()[1]()
    assert runs == [103.0] and scheduled == []
    clock.now = 120.0
    active.now = 119.5
    assert throttle() is False and [delay for delay, _ in scheduled] == [1.5]
    for step in range(1, 40):  # sessions never go quiet: the release runs max_wait after it was asked for
        clock.now = active.now = 120.0 + step
        scheduled.pop()[1]()
        if runs[-1] != 103.0:
            break
    assert runs == [103.0, 150.0] and scheduled == []
    assert throttle(force=True) is True and runs[-1] == 150.0  # force ignores activity


def test_the_app_releases_when_sessions_are_quiet_and_documents_record_activity() -> None:
    from bokeh.document import Document
    from bokeh.models import Div

    assert memory._throttle.quiet == memory.RELEASE_QUIET_SECONDS > 0
    assert memory._throttle.max_wait == memory.RELEASE_MAX_WAIT_SECONDS
    assert memory._throttle.last_activity is memory.last_activity
    document, div = Document(), Div()
    document.add_root(div)
    document.on_change(memory.note_activity)  # as the app registers it on each session's document
    before = memory.last_activity()
    div.text = "changed"
    assert memory.last_activity() > before


def test_the_app_throttle_releases_memory_through_a_daemon_timer() -> None:
    assert memory._throttle.release is memory.release_now
    assert memory._throttle.interval == memory.RELEASE_INTERVAL_SECONDS
    fired = threading.Event()
    memory._start_daemon_timer(0.0, fired.set)
    assert fired.wait(timeout=60), "the timer ran its action"


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


JEMALLOC_SETTINGS = """
import ctypes, json
from forecast_panel import memory
memory.run_with_server_allocator()
mallctl = memory._mallctl()

def read(name, kind):
    value, size = kind(), ctypes.c_size_t(ctypes.sizeof(kind))
    assert mallctl(name.encode(), ctypes.byref(value), ctypes.byref(size), None, 0) == 0, name
    return value.value

print(json.dumps([memory.allocator(), read("opt.background_thread", ctypes.c_bool),
                  read("opt.dirty_decay_ms", ctypes.c_ssize_t), read("opt.muzzy_decay_ms", ctypes.c_ssize_t),
                  memory.return_free_pages()]))
"""


@pytest.mark.skipif(JEMALLOC is None, reason="jemalloc is not installed (scripts/dev test installs libjemalloc2)")
def test_a_served_process_runs_on_jemalloc_with_its_settings_and_purges() -> None:
    """The settings reach jemalloc (read back through mallctl) and its purge of every arena is
    accepted. How much memory a purge returns is a benchmark figure (bench_memory_purge)."""
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONMALLOC", "LD_PRELOAD")}
    result = subprocess.run(
        [sys.executable, "-c", JEMALLOC_SETTINGS],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(result.stdout) == ["jemalloc", True, 1000, 0, "jemalloc purge"]
    assert memory.JEMALLOC_CONF == "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0"


def test_without_jemalloc_free_pages_go_back_through_malloc_trim() -> None:
    environment = {**os.environ, "PYTHONMALLOC": "malloc"}
    environment.pop("LD_PRELOAD", None)
    code = "from forecast_panel import memory; memory.run_with_server_allocator(); print(memory.return_free_pages())"
    result = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "malloc_trim"


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
