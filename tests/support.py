"""Helpers shared by test modules (a test module imports helpers from here or from a conftest,
never from another test module or from a benchmark)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def run_on_own_loop[T](coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to its end on a new event loop in a thread of its own.

    A session-scoped Playwright browser keeps an event loop set as the main thread's running
    loop, and ``asyncio.run`` refuses to start under one; whether it is set depends on which tests
    ran before in the process, so a test that awaits something uses this instead."""
    with ThreadPoolExecutor(max_workers=1) as own_thread:
        return own_thread.submit(asyncio.run, coroutine).result()
