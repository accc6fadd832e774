"""Shared fixtures: a moto server on 127.0.0.1, temporary stores and tiny sample sources.

AWS credentials are fake and set before any client is built, so a test can never reach a real
account. The moto server is one per test process (pytest-xdist workers each get their own) and
is reset before every test that uses it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "ICECHUNK_LOG": "error",
    }
)
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_ENDPOINT_URL", None)

SAMPLE_NEWEST_INIT = date(2026, 11, 24)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """URL of a moto server (S3, DynamoDB, … over real HTTP) on an ephemeral loopback port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A freshly reset moto server, with AWS_ENDPOINT_URL pointing at it for this test."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=60).close()  # a hang guard only
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


@pytest.fixture
def quiet_moto_log() -> Iterator[None]:
    """moto's server logs every request at INFO (werkzeug's logger); formatting thousands of them
    slows the fault and race tests. Warnings and errors still show."""
    logger = logging.getLogger("werkzeug")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's standard-mode backoff (random up to 1 s × 2^n) scaled down 100-fold: fault tests
    keep every retry and lose the waiting."""
    from botocore.retries.standard import ExponentialBackoff

    delay = ExponentialBackoff.delay_amount
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: delay(self, context) / 100)


@pytest.fixture
def s3_bucket(moto: str) -> str:
    """A new empty bucket on the moto server; returns its name."""
    import boto3

    name = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A local-folder artifact store URL."""
    return str(tmp_path / "store")


@pytest.fixture(scope="session")
def tiny_samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny sample sources (Icechunk) shared read-only by the session: returns their folder.

    Holds ``source_registry.json`` and both stores; 5 members, 2 inits ending SAMPLE_NEWEST_INIT.
    """
    from extraction.sample_sources.cli import write_samples

    out = tmp_path_factory.mktemp("tiny-samples")
    write_samples(str(out), size="tiny", newest_init=SAMPLE_NEWEST_INIT)
    return out


JsonAnswer = Callable[[str], tuple[int, object]]


@dataclass
class JsonServer:
    """A loopback JSON server: its base URL and every request's (path, headers) so far."""

    url: str
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)


@contextmanager
def serve_json(answer: JsonAnswer) -> Iterator[JsonServer]:
    """Serve GET requests with ``answer(path)`` → (status, JSON document) on an ephemeral
    loopback port (logs quiet); yields the server's URL and request record."""
    seen: list[tuple[str, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, dict(self.headers.items())))
            status, document = answer(self.path)
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield JsonServer(f"http://127.0.0.1:{server.server_address[1]}", seen)
    finally:
        server.shutdown()


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's chromium driven by Playwright (never a downloaded browser). One per test process,
    shared by every browser test (the app's and JupyterLab's): Playwright's sync API runs one
    instance per thread."""
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian's chromium is not installed (scripts/dev test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield instance
        instance.close()
