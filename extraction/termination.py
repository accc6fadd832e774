"""SIGTERM for a batch run (what ECS sends before SIGKILL): stop before the commit point, never in it.

``stop_on_sigterm`` (main thread only, e.g. around the CLI's run) turns SIGTERM and SIGINT into
``TerminationRequested`` raised where the main thread is, so context managers close the Dask
cluster and thread pools on the way out and nothing is published. Inside ``critical()`` (the
commit and what must follow it) a signal is only recorded: the run finishes what it committed
to, and the process then ends as it would have.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TerminationRequested(BaseException):
    """A stop signal arrived outside a critical section (BaseException: no handler swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class _State:
    def __init__(self) -> None:
        self.critical_depth = 0
        self.deferred: int | None = None


_state = _State()


def _handle(signum: int, _frame: FrameType | None) -> None:
    if _state.critical_depth:
        _state.deferred = signum
        return
    raise TerminationRequested(signum)


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Raise TerminationRequested on SIGTERM/SIGINT while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    for signum in STOP_SIGNALS:
        signal.signal(signum, _handle)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def critical() -> Iterator[None]:
    """A section a stop signal must not interrupt: the signal is recorded, not raised."""
    _state.critical_depth += 1
    try:
        yield
    finally:
        _state.critical_depth -= 1


def deferred_signal() -> int | None:
    """The stop signal that arrived during a critical section, if any."""
    return _state.deferred
