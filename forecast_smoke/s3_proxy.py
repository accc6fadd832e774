"""A loopback proxy in front of an S3 / DynamoDB endpoint (moto) that misbehaves on purpose.

It forwards every request — any method, any body, the client's headers untouched (Host included,
so SigV4 signatures still verify upstream) — to ``upstream`` and relays the answer, adding a
latency per request and an optional bandwidth cap per response, and injects faults on a seeded
share of requests (``forecast_smoke.s3_faults``: 503 SlowDown, 500 InternalError, slow answers,
connection resets, truncated bodies, lost responses of requests that took effect).

Command line (its own process; prints one JSON line ``{"url": "http://127.0.0.1:NNNN"}`` on
stdout once it listens, exits cleanly on SIGTERM / SIGINT)::

    python -m forecast_smoke.s3_proxy --upstream http://127.0.0.1:5000 [--port 0]
        [--latency-ms 30] [--bandwidth-mbps X] [--fault-rate 0.0]
        [--faults slowdown,internal,slow,reset,truncate,lost_response] [--seed N] [--slow-seconds 1.0]

``--latency-ms`` (default 30, S3's typical first-byte latency) is added to every request;
``--bandwidth-mbps`` caps each response's body at X megabits per second; ``--fault-rate`` is the
share of requests that get one of ``--faults``. Point clients at the printed URL
(``AWS_ENDPOINT_URL``, ``--endpoint-url``).

In-process (tests): ``with S3FaultProxy(moto_url) as proxy:`` serves on a thread (no latency by
default); ``proxy.plan = FaultPlan(...)`` changes the faults at run time, ``proxy.stats()``
counts requests and faults per kind. ``proxy_process(...)`` runs the command line above as a
subprocess and yields its URL.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from urllib.parse import urlsplit

from forecast_smoke.proxy_handler import ProxyServer, Shaping
from forecast_smoke.proxy_process import proxy_process, start_proxy_process
from forecast_smoke.s3_faults import FAULT_KINDS, FaultDecider, FaultPlan, ProxyStats

__all__ = ["FaultPlan", "S3FaultProxy", "Shaping", "main", "proxy_process", "start_proxy_process"]


class S3FaultProxy:
    """The proxy on a background thread: ``with S3FaultProxy(upstream) as proxy: proxy.url``.

    ``latency`` is in seconds per request, ``bandwidth_mbps`` in megabits per second per response.
    """

    def __init__(
        self,
        upstream: str,
        *,
        port: int = 0,
        latency: float = 0.0,
        bandwidth_mbps: float | None = None,
        plan: FaultPlan | None = None,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http://host:port URL, got {upstream!r}")
        self.decider = FaultDecider(plan)
        bandwidth = None if bandwidth_mbps is None else bandwidth_mbps * 1e6 / 8
        self._server = ProxyServer(port, (parts.hostname, parts.port or 80), self.decider, Shaping(latency, bandwidth))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread: threading.Thread | None = None

    @property
    def plan(self) -> FaultPlan:
        return self.decider.plan

    @plan.setter
    def plan(self, plan: FaultPlan) -> None:
        self.decider.plan = plan

    def stats(self) -> ProxyStats:
        return self.decider.stats()

    @contextmanager
    def faults(self, plan: FaultPlan) -> Iterator[FaultPlan]:
        """Use ``plan`` inside the block, then the plan before it."""
        previous, self.plan = self.plan, plan
        try:
            yield plan
        finally:
            self.plan = previous

    def start(self) -> S3FaultProxy:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="s3-fault-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.close_open_connections()
        self._server.server_close()

    def __enter__(self) -> S3FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m forecast_smoke.s3_proxy", description=__doc__.split("\n")[0])
    parser.add_argument("--upstream", required=True, help="http://host:port of the real endpoint (moto)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--latency-ms", type=float, default=30.0, help="added to every request")
    parser.add_argument("--bandwidth-mbps", type=float, default=None, help="cap per response, megabits/s")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of requests that get a fault")
    parser.add_argument("--faults", default=",".join(FAULT_KINDS), help="comma-separated fault kinds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slow-seconds", type=float, default=1.0, help="extra delay of a 'slow' fault")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the proxy until SIGTERM / SIGINT; print its URL as one JSON line first."""
    args = _parser().parse_args(argv)
    kinds = tuple(kind.strip() for kind in args.faults.split(",") if kind.strip())
    try:
        plan = FaultPlan(rate=args.fault_rate, kinds=kinds, seed=args.seed, slow_seconds=args.slow_seconds)
        proxy = S3FaultProxy(
            args.upstream,
            port=args.port,
            latency=args.latency_ms / 1000,
            bandwidth_mbps=args.bandwidth_mbps,
            plan=plan,
        )
    except (ValueError, OSError) as error:
        sys.stderr.write(f"s3_proxy: {error}\n")
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with proxy:
        sys.stdout.write(json.dumps({"url": proxy.url}) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
