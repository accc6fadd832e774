"""``forecast-panel serve``: the dashboard on Panel's server, with ``/liveness`` for health checks.

``forecast-panel serve --store URL [--api URL] [--port N] [--address A]
[--allow-websocket-origin HOST …] [--use-xheaders] [--num-procs N] [--tiles URL|none]``;
``--store`` / ``--api`` default to ``FORECAST_STORE_URL`` / ``FORECAST_API_URL``. Each browser
session gets its own app; every session of the process shares one DataStore (one cache).

SIGTERM (what ECS sends) or SIGINT: the server stops listening, closes its connections (browsers
reconnect to another task) and the process exits 0. With ``--num-procs`` above 1 the parent
forwards the signal to its worker processes and exits when they have.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

from forecast_core.store_options import add_store_arguments

log = logging.getLogger(__name__)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    add_store_arguments(parser)
    parser.add_argument("--api", default=os.environ.get("FORECAST_API_URL"), help="write-back API base URL")
    parser.add_argument("--port", type=int, default=5006, help="port (default 5006; 0 = any free port)")
    parser.add_argument("--address", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument(
        "--allow-websocket-origin",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="allowed websocket origin (repeatable; default: the listen address and port)",
    )
    parser.add_argument("--use-xheaders", action="store_true", help="trust X-Forwarded-* headers (behind a proxy)")
    parser.add_argument("--num-procs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--tiles", default=os.environ.get("FORECAST_TILE_URL"), help="tile URL template, or 'none'")


def session_factory(store: str, api: str | None, tiles: str | None) -> Callable[[], object]:
    """A per-session app builder for ``pn.serve`` (a plain function: Panel calls it per session)."""

    def session() -> object:
        from forecast_panel.app import create_app

        return create_app(store, api, tile_url=tiles)

    return session


def run(args: argparse.Namespace) -> int:
    from forecast_panel.memory import freeze_heap, run_with_server_allocator, use_system_allocator

    run_with_server_allocator()  # returns closed sessions' memory to the system (see memory.py)
    if args.endpoint_url:
        os.environ.setdefault("AWS_ENDPOINT_URL", args.endpoint_url)
    import panel as pn

    from forecast_panel import places
    from forecast_panel.app import load_extensions

    use_system_allocator()
    load_extensions()  # the app's imports and extensions load now, not in the first user's session
    if args.num_procs == 1:  # a thread must not be mid-load when worker processes fork
        places.warm()  # the map's offline gazetteer loads in the background (a few seconds)
    freeze_heap()  # the collector's full passes skip the imported modules' objects
    origins = list(args.allow_websocket_origin) or [f"{args.address}:{args.port}", f"localhost:{args.port}"]
    log.info("serving the dashboard on http://%s:%s/ (store %s, API %s)", args.address, args.port, args.store, args.api)
    if args.num_procs != 1:
        _on_stop_signals(_forward_to_workers(os.getpid()))  # the parent forks inside pn.serve
    server = pn.serve(
        {"/": session_factory(args.store, args.api, args.tiles)},
        port=args.port,
        address=args.address,
        websocket_origin=origins,
        show=False,
        start=False,
        liveness=True,
        num_procs=args.num_procs,
        use_xheaders=args.use_xheaders,
        title="forecast-panel",
    )
    _on_stop_signals(lambda signum, _frame: server.io_loop.asyncio_loop.call_soon_threadsafe(_shut_down, server))
    server.start()
    server.io_loop.start()
    log.info("the dashboard server stopped")
    return 0


SignalHandler = Callable[[int, FrameType | None], Any]


def _on_stop_signals(handler: SignalHandler) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handler)


def _shut_down(server: Any) -> None:
    """Stop taking connections, close the open ones, and end the server's loop."""
    log.info("stop signal: closing the listening sockets and %d session(s)", len(server.get_sessions()))
    server.unlisten()
    server.io_loop.add_callback(server.io_loop.stop)


def _forward_to_workers(parent: int) -> SignalHandler:
    """The parent's handler with worker processes: signal the process group once (the workers
    shut down, and Tornado's parent loop exits when they all have)."""
    forwarded: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        if os.getpid() != parent or forwarded:
            return
        forwarded.append(signum)
        os.killpg(os.getpgrp(), signum)

    return forward
