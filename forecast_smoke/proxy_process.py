"""Start the misbehaving S3 proxy (``python -m forecast_smoke.s3_proxy``) as its own process.

Benchmarks use it so the proxy's work (latency, bandwidth shaping, relaying) does not share a
process — and a GIL — with the client being measured.
"""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

STARTUP_TIMEOUT = 30.0


def proxy_arguments(
    upstream: str,
    *,
    latency_ms: float = 30.0,
    bandwidth_mbps: float | None = None,
    fault_rate: float = 0.0,
    faults: Sequence[str] | None = None,
    seed: int = 0,
    slow_seconds: float = 1.0,
    port: int = 0,
) -> list[str]:
    """The command line of a proxy process with these settings."""
    command = [sys.executable, "-m", "forecast_smoke.s3_proxy", "--upstream", upstream, "--port", str(port)]
    command += ["--latency-ms", str(latency_ms), "--fault-rate", str(fault_rate), "--seed", str(seed)]
    command += ["--slow-seconds", str(slow_seconds)]
    if bandwidth_mbps is not None:
        command += ["--bandwidth-mbps", str(bandwidth_mbps)]
    if faults is not None:
        command += ["--faults", ",".join(faults)]
    return command


def start_proxy_process(upstream: str, **settings: Any) -> tuple[subprocess.Popen[str], str]:
    """Start a proxy process (settings as ``proxy_arguments``); returns it and its URL once it listens.

    Raises RuntimeError (with its error output) when it exits or stays silent for 30 s.
    """
    process = subprocess.Popen(
        proxy_arguments(upstream, **settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        ready = selector.select(STARTUP_TIMEOUT)
    line = process.stdout.readline() if ready else ""
    if not line:
        process.kill()
        _, errors = process.communicate(timeout=10)
        raise RuntimeError(f"the S3 proxy did not start: {errors.strip() or 'no output within 30 s'}")
    return process, str(json.loads(line)["url"])


@contextmanager
def proxy_process(upstream: str, **settings: Any) -> Iterator[str]:
    """A proxy process for the block (settings as ``proxy_arguments``); yields its URL, then
    stops it with SIGTERM."""
    process, url = start_proxy_process(upstream, **settings)
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
