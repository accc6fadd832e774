"""Open pages learn of every newly published run, without a reload and without per-session polling.

One ``RunWatcher`` per DataStore (so one per process: ``watcher_for`` shares it): a daemon
thread resolves ``latest.json`` through the shared DataStore (``manifest(force=True)``, one small
read that is parsed again only when its bytes changed) every ``interval`` seconds — the
DataStore's manifest TTL, 30 s by default — and every ``fast_interval`` seconds (2 s) while a
session expects a run: a session that saved a point calls ``expect_run()``, which holds the
fast pace for ``expect_seconds`` (10 min), the time a targeted extraction takes at most.

When the run id changes, and only then, the watcher schedules each subscribed session's callback
on that session's Bokeh document (``add_next_tick_callback``, the one document call that is safe
from another thread), with Panel's current document set so that the session's updates go to its
own page. While the run id is unchanged no session is touched: no per-session timer runs and no
websocket message is sent. Subscriptions end when their session is destroyed.

``ValueWatcher`` does the same for a value computed every few seconds (the status banner's text:
one check per process instead of a periodic callback per session): sessions are called back only
when the value differs from the one they were last given.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from forecast_core.points import Point
from forecast_core.status import RunManifest
from forecast_panel.data import DataStore

log = logging.getLogger(__name__)
RunCallback = Callable[[str | None], None]


@dataclass(eq=False)
class Subscription:
    """One session's interest in new runs or values; ``document`` None calls back on the
    watcher's thread; ``value`` is what the session was last given (``ValueWatcher``)."""

    callback: Callable[[Any], None]
    document: Any = None
    value: Any = None


def notify_session(subscription: Subscription, value: Any) -> bool:
    """Call ``subscription.callback(value)``: at once without a document, else on the document's
    next tick with Panel's current document set to it (so its updates go to its own page).
    False when the session's document is gone (the caller drops the subscription)."""
    document = subscription.document
    if document is None:
        subscription.callback(value)
        return True

    def apply() -> None:
        from panel.io.state import set_curdoc

        with set_curdoc(document):
            subscription.callback(value)

    try:
        document.add_next_tick_callback(apply)
    except Exception:  # (a closing session must not stop the others' updates)
        log.debug("session document gone; dropping its subscription", exc_info=True)
        return False
    return True


class SessionWatcher(ABC):
    """The subscriber half both watchers share: sessions subscribe and unsubscribe, one daemon
    thread per watcher (started with the first subscription) runs ``_loop``, and a session
    whose document is gone is dropped when it is called back."""

    thread_name = "session-watcher"

    def __init__(self) -> None:
        self.notified = 0  # session callbacks scheduled
        self._subscriptions: list[Subscription] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _add(self, subscription: Subscription) -> Subscription:
        with self._lock:
            self._subscriptions.append(subscription)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
                self._thread.start()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions = [item for item in self._subscriptions if item is not subscription]

    @property
    def sessions(self) -> int:
        return len(self._subscriptions)

    def _notify(self, subscription: Subscription, value: Any) -> None:
        self.notified += 1
        if not notify_session(subscription, value):
            self.unsubscribe(subscription)

    @abstractmethod
    def _loop(self) -> None:
        """The watcher's thread: check every so often and call back the sessions concerned."""


class RunWatcher(SessionWatcher):
    """Checks latest.json once per process and tells subscribed sessions when the run changed."""

    thread_name = "run-watcher"

    def __init__(
        self,
        datastore: DataStore,
        *,
        interval: float | None = None,
        fast_interval: float = 2.0,
        expect_seconds: float = 600.0,
    ) -> None:
        super().__init__()
        self.datastore = datastore
        self.interval = datastore.manifest_ttl_seconds if interval is None else interval
        self.fast_interval = fast_interval
        self.expect_seconds = expect_seconds
        self.run_id = datastore.run_id
        self.checks = 0  # latest.json resolutions (for tests and benchmarks)
        self._wake = threading.Event()
        self._expect_until = 0.0

    # --- sessions -------------------------------------------------------------------------------

    def subscribe(self, callback: RunCallback, document: Any = None) -> Subscription:
        """Call ``callback(run_id)`` on ``document``'s next tick whenever a new run is published."""
        return self._add(Subscription(callback, document))

    def expect_run(self) -> None:
        """A run is on its way (a point was saved): check every ``fast_interval`` for a while."""
        self._expect_until = time.monotonic() + self.expect_seconds
        self._wake.set()

    def expecting(self) -> bool:
        return time.monotonic() < self._expect_until

    # --- the check ------------------------------------------------------------------------------

    def check(self) -> bool:
        """Resolve latest.json now; tell every session if the run id changed. True if it did."""
        manifest = self.datastore.manifest(force=True)
        self.checks += 1
        run_id = manifest.run_id if manifest else None
        with self._lock:
            if run_id == self.run_id:
                return False
            self.run_id = run_id
            subscriptions = list(self._subscriptions)
        log.info("new run %s published: updating %d sessions", run_id, len(subscriptions))
        for subscription in subscriptions:
            self._notify(subscription, run_id)
        return True

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.fast_interval if self.expecting() else self.interval)
            self._wake.clear()
            if not self._subscriptions:
                continue
            try:
                self.check()
            except Exception:  # (an unreadable store now may be readable at the next check)
                log.warning("could not resolve latest.json; retrying at the next check", exc_info=True)


class ValueWatcher(SessionWatcher):
    """One daemon thread per process computes a value every ``interval`` seconds (``compute``,
    e.g. the status banner's text, which may wait on the store) and calls each subscribed
    session back with it when it differs from the value that session was last given. Sessions
    keep no timer of their own, and an unchanged value touches no session."""

    thread_name = "value-watcher"

    def __init__(self, compute: Callable[[], Any], interval: float) -> None:
        super().__init__()
        self.compute = compute
        self.interval = interval
        self.checks = 0  # computations (for tests and benchmarks)

    def subscribe(self, callback: Callable[[Any], None], document: Any = None, current: Any = None) -> Subscription:
        """Call ``callback(value)`` on ``document``'s next tick whenever the value differs from
        the last one given, starting from ``current`` (what the session shows now)."""
        return self._add(Subscription(callback, document, current))

    def check(self) -> int:
        """Compute the value now; call back every session whose last value differs. Returns
        how many were called back."""
        value = self.compute()
        self.checks += 1
        with self._lock:
            changed = [item for item in self._subscriptions if item.value != value]
        for subscription in changed:
            subscription.value = value
            self._notify(subscription, value)
        return len(changed)

    def _loop(self) -> None:
        while True:
            time.sleep(self.interval)
            if not self._subscriptions:
                continue
            try:
                self.check()
            except Exception:  # (a failing computation now may succeed at the next check)
                log.warning("could not compute the watched value; retrying at the next check", exc_info=True)


def _follow_in_session(subscribe: Callable[[Any], Subscription], watcher: SessionWatcher) -> None:
    """Subscribe the current Panel session (``subscribe(document)``) until it is destroyed.
    Outside a server session (a notebook) nothing is subscribed."""
    import panel as pn

    document = pn.state.curdoc
    if document is None or document.session_context is None:
        return
    subscription = subscribe(document)
    pn.state.on_session_destroyed(lambda _context: watcher.unsubscribe(subscription))


def follow_value(watcher: ValueWatcher, callback: Callable[[Any], None], current: Any) -> None:
    """Subscribe the current Panel session's ``callback`` to ``watcher`` (``current``: the value
    it shows now); unsubscribed when the session is destroyed."""
    _follow_in_session(lambda document: watcher.subscribe(callback, document, current), watcher)


_WATCHERS: dict[int, RunWatcher] = {}
_WATCHERS_LOCK = threading.Lock()


def watcher_for(datastore: DataStore) -> RunWatcher:
    """The process-wide watcher of ``datastore`` (the shared DataStore gives one per process);
    ``FORECAST_RUN_CHECK_SECONDS`` overrides its pace when no run is expected."""
    with _WATCHERS_LOCK:
        found = _WATCHERS.get(id(datastore))
        if found is None or found.datastore is not datastore:
            interval = os.environ.get("FORECAST_RUN_CHECK_SECONDS")
            found = _WATCHERS[id(datastore)] = RunWatcher(datastore, interval=float(interval) if interval else None)
        return found


def follow_runs(datastore: DataStore, callback: RunCallback) -> RunWatcher:
    """Subscribe the current Panel session's ``callback`` to new runs; unsubscribed when the
    session is destroyed. Outside a server session (a notebook) nothing is subscribed."""
    watcher = watcher_for(datastore)
    _follow_in_session(lambda document: watcher.subscribe(callback, document), watcher)
    return watcher


def merged_points(current: list[Point], configured: list[Point]) -> list[Point]:
    """The session's points updated from the store's configured points (which win by id); a
    point only this session knows of (saved a moment ago) is kept."""
    by_id = {point.point_id: point for point in current}
    by_id.update((point.point_id, point) for point in configured)
    return list(by_id.values())


def run_announcement(manifest: RunManifest | None, ready: list[str]) -> str:
    """What a session tells its user when a new run is applied."""
    if manifest is None:
        return "The published forecasts were withdrawn; the page shows what is left."
    inits = sorted({source.init_time for source in manifest.sources})
    newest = f" (newest init {inits[-1]:%a %d %b %H:%M} UTC)" if inits else ""
    text = f"A new forecast run was published{newest}; the page now shows it."
    if ready:
        text += " Forecast ready for: " + ", ".join(ready) + "."
    return text
