"""Loopback ports for the servers the tests start as separate processes."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def reserved_port() -> Iterator[int]:
    """A free loopback port, held for the caller until the block ends.

    Probing for a free port and closing the probe leaves a window in which anything else on the
    machine (another xdist worker, another test run, an outgoing connection's ephemeral port)
    can take the port before the server binds it. This probe stays bound, with SO_REUSEADDR and
    without listening, so the kernel gives the port to no one else, while a server that binds it
    with SO_REUSEADDR (Tornado under Panel, and ``http.server``, both do) can still listen on it.
    Keep the block open until the server answers on the port (or has stopped using it).
    """
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", 0))
        yield int(probe.getsockname()[1])
