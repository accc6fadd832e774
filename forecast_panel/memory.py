"""Giving memory back after dashboard sessions close (the figures are in docs/performance.md,
"Memory after sessions close").

A closed session's objects are all freed, but freed memory is not returned to the operating
system by itself: Arrow's default pool (mimalloc) keeps its segments, and glibc keeps freed heap
pages. ``use_system_allocator`` makes Arrow allocate with the system allocator, and
``release_memory`` — run by the server when a session is destroyed, at most once per
``RELEASE_INTERVAL_SECONDS``, once more after the last of a burst, and when no session has been
active for ``RELEASE_QUIET_SECONDS`` — collects garbage and hands free pages back.

Python's own small-object allocator (pymalloc) can only return whole 1 MiB arenas, which a few
long-lived objects allocated while sessions ran keep alive. The server therefore runs with
``PYTHONMALLOC=malloc`` (``SERVER_ENVIRONMENT``): Python objects then live in the C heap, whose
free pages can be returned one by one. ``forecast-panel serve`` re-executes itself with it
(``run_with_server_allocator``); the app image sets it.

glibc's heap still keeps pages that long-lived objects share with freed memory. jemalloc places
objects in size-class slabs and returns free pages by itself after ``dirty_decay_ms``, so where
it is installed (Debian: ``libjemalloc2``) the server also preloads it (``LD_PRELOAD``;
``MALLOC_CONF`` = ``JEMALLOC_CONF``), and ``release_memory`` purges its free pages at once.
``allocator()`` names the allocator in use.

Time, not memory: ``freeze_heap`` keeps the objects of start-up and of open sessions out of the
garbage collector's full passes, which otherwise stall every session for a pass over all of them.
The release's own pass (it unfreezes to reach closed sessions' cycles) is such a stall too, so it
runs when the sessions are quiet (``note_activity`` records their last change).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pyarrow as pa

log = logging.getLogger(__name__)

RELEASE_INTERVAL_SECONDS = 10.0
# A release waits for this long without session activity, and at most RELEASE_MAX_WAIT_SECONDS.
RELEASE_QUIET_SECONDS = 2.0
RELEASE_MAX_WAIT_SECONDS = 300.0

SERVER_ENVIRONMENT = {"PYTHONMALLOC": "malloc"}
# Free pages go back 1 s after they fall free (by jemalloc's background thread, not by the
# request that freed them); muzzy (lazily freed) pages are skipped, so RSS drops for real.
JEMALLOC_CONF = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0"
# jemalloc's "all arenas" index for ``arena.<i>.purge`` (MALLCTL_ARENAS_ALL).
_ALL_ARENAS = 4096


def server_environment(environ: Mapping[str, str], jemalloc: str | None) -> dict[str, str]:
    """The variables the server runs with: ``SERVER_ENVIRONMENT``, plus jemalloc preloaded
    (``jemalloc``: its library name or path; None when not installed) unless ``LD_PRELOAD``
    already names it; a ``MALLOC_CONF`` already set is kept."""
    wanted = dict(SERVER_ENVIRONMENT)
    preloaded = environ.get("LD_PRELOAD", "")
    if jemalloc and "jemalloc" not in preloaded:
        wanted["LD_PRELOAD"] = f"{jemalloc} {preloaded}".strip()
        if "MALLOC_CONF" not in environ:
            wanted["MALLOC_CONF"] = JEMALLOC_CONF
    return wanted


def run_with_server_allocator() -> None:
    """Re-execute this process (same arguments, same pid) with ``server_environment`` unless
    ``PYTHONMALLOC`` is already set (set to anything: an explicit choice is kept, as in the app
    image, which sets the variables itself). The interpreter reads ``PYTHONMALLOC`` and the
    loader ``LD_PRELOAD`` only at start-up. Returns only when nothing needed changing."""
    if "PYTHONMALLOC" in os.environ or os.name != "posix":
        return
    sys.stdout.flush()
    sys.stderr.flush()
    arguments = [sys.executable, *sys.orig_argv[1:]]  # this interpreter, its own arguments
    environment = {**os.environ, **server_environment(os.environ, ctypes.util.find_library("jemalloc"))}
    os.execve(sys.executable, arguments, environment)  # noqa: S606


def use_system_allocator() -> None:
    """Arrow allocates through malloc (trimmable), not its own retaining pool. Idempotent."""
    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        library = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return library if library is not None and hasattr(library, "malloc_trim") else None


@cache
def _mallctl() -> Any:
    """jemalloc's ``mallctl`` when jemalloc is this process's malloc (preloaded), else None."""
    if os.name != "posix":
        return None
    function = getattr(ctypes.CDLL(None), "mallctl", None)
    if function is not None:
        function.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
        function.restype = ctypes.c_int
    return function


def allocator() -> str:
    """The malloc this process runs on: ``jemalloc`` or ``system`` (glibc's elsewhere)."""
    return "jemalloc" if _mallctl() is not None else "system"


_heap_frozen = [False]


def freeze_heap() -> None:
    """Take every object alive now out of the garbage collector's passes (``gc.freeze``).

    The server calls it after start-up and when a session has loaded. A full pass visits every
    tracked object: with 20 sessions open it took 220 ms every few seconds, and every session
    waited for it. Frozen objects are still freed when their last reference goes; reference
    cycles among them (a closed session's models and document) are collected by
    ``release_memory``, which unfreezes, collects and freezes the survivors again."""
    gc.freeze()
    _heap_frozen[0] = True


def release_now() -> None:
    """Collect garbage (frozen cycles included) and return free heap pages to the OS at once."""
    if _heap_frozen[0]:
        gc.unfreeze()  # closed sessions' cycles were frozen with them
    gc.collect()
    if _heap_frozen[0]:
        gc.freeze()
    pa.default_memory_pool().release_unused()
    try:
        return_free_pages()
    except OSError as error:  # memory stays with the process; serving goes on
        log.warning("free pages not returned: %s", error)


def return_free_pages() -> str | None:
    """Hand free heap pages back to the OS: jemalloc's purge of every arena, else glibc's
    ``malloc_trim``. Returns which of the two ran (None: neither is available); raises OSError
    when jemalloc refuses the purge."""
    mallctl = _mallctl()
    if mallctl is not None:
        status = mallctl(f"arena.{_ALL_ARENAS}.purge".encode(), None, None, None, 0)
        if status != 0:
            raise OSError(status, f"jemalloc refused arena.{_ALL_ARENAS}.purge")
        return "jemalloc purge"
    libc = _libc()
    if libc is None:
        return None
    libc.malloc_trim(0)
    return "malloc_trim"


def _start_daemon_timer(delay: float, action: Callable[[], None]) -> None:
    timer = threading.Timer(delay, action)
    timer.daemon = True
    timer.start()


_last_activity = [-math.inf]  # monotonic time of the last change in any session's document


def note_activity(_event: object) -> None:
    """Record that a session's document changed now (``_event``: a user's message or its redraw);
    the app registers it as every session document's change callback. A release waits for quiet."""
    _last_activity[0] = time.monotonic()


def last_activity() -> float:
    """Monotonic time of the last ``note_activity`` (minus infinity before the first)."""
    return _last_activity[0]


@dataclass
class ReleaseThrottle:
    """Runs ``release`` at most once per ``interval`` seconds, once more after a burst, and (with
    ``quiet``) only when no session has been active for ``quiet`` seconds.

    A call within ``interval`` of the last release runs nothing now and schedules one release at
    the end of the interval (``schedule(delay, action)``; later calls of the burst find it
    scheduled), so a burst of closing sessions ends with one release after the last. A release
    is a full garbage-collection pass that holds every session still for its length, so it also
    waits until ``last_activity()`` lies ``quiet`` seconds back, re-checking when that would be
    the case; it waits ``max_wait`` seconds after it was asked for at most. ``clock``,
    ``schedule`` and ``last_activity`` are injectable (monotonic time, a daemon
    ``threading.Timer`` and ``note_activity``'s record in the app).
    """

    release: Callable[[], None]
    interval: float = RELEASE_INTERVAL_SECONDS
    clock: Callable[[], float] = time.monotonic
    schedule: Callable[[float, Callable[[], None]], None] = _start_daemon_timer
    quiet: float = 0.0
    max_wait: float = math.inf
    last_activity: Callable[[], float] = lambda: -math.inf
    _last: float | None = None
    _asked: float | None = None
    _scheduled: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, force: bool = False) -> bool:
        """Release now (returns True) unless throttled or sessions are busy (returns False, one
        release scheduled)."""
        with self._lock:
            now = self.clock()
            wait = 0.0 if force else self._wait(now)
            if wait > 0:
                if not self._scheduled:
                    self._scheduled, self._asked = True, now
                    self.schedule(wait, self._deferred)
                return False
            self._last, self._asked = now, None
        self.release()
        return True

    def _wait(self, now: float) -> float:
        """Seconds until a release may run: the interval's rest, or until quiet (capped by
        ``max_wait`` after the release was asked for)."""
        throttled = 0.0 if self._last is None else self.interval - (now - self._last)
        busy = self.quiet - (now - self.last_activity())
        if self._asked is not None:
            busy = min(busy, self._asked + self.max_wait - now)
        return max(throttled, busy)

    def _deferred(self) -> None:
        with self._lock:
            wait = self._wait(self.clock())
            if wait > 0:  # sessions were active meanwhile: check again when they may be quiet
                self.schedule(wait, self._deferred)
                return
            self._scheduled = False
        self(force=True)


_throttle = ReleaseThrottle(
    release_now, quiet=RELEASE_QUIET_SECONDS, max_wait=RELEASE_MAX_WAIT_SECONDS, last_activity=last_activity
)


def release_memory(force: bool = False) -> bool:
    """Collect garbage and return free heap pages to the OS (jemalloc's purge or glibc's
    ``malloc_trim``; a no-op elsewhere); returns whether it ran now. Throttled unless ``force``
    (``ReleaseThrottle``): a call within ``RELEASE_INTERVAL_SECONDS`` of the last release
    schedules one release at the end of the interval instead, so a burst of closing sessions
    ends with one release after the last; and a release waits until no session has been active
    for ``RELEASE_QUIET_SECONDS`` (``note_activity``), ``RELEASE_MAX_WAIT_SECONDS`` at most,
    so that its collection pass does not stall users in the middle of their work."""
    return _throttle(force)
