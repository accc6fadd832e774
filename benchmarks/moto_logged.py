"""moto's S3 server in its own process, with a request log: what the extraction benchmarks count.

    python -m benchmarks.moto_logged --log requests.jsonl [--port 0]

Prints ``{"url": "http://127.0.0.1:NNNN"}`` once it listens; runs until SIGTERM. Every request
appends one JSON line to ``--log``: ``start`` and ``end`` (epoch seconds; the end is when the
last body byte was handed to the socket), ``method``, ``path``, ``range`` (the Range header) and
``bytes`` (body bytes sent). ``RequestLog`` reads it back: GETs per key prefix, bytes, and how
many requests were in flight at once.

One change to moto's behaviour, for speed only: a GET with a plain ``Range: bytes=a-b`` reads
just that range of the stored object. moto reads the whole object for every ranged GET (under
the object's lock), which on the production-scale store's sharded objects (hundreds of MB, read
a few MB at a time) would make the server, not the client, the thing measured. Answers are
byte-identical (``tests/extraction/test_benchmarks.py`` checks a ranged read).
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_RANGE = re.compile(r"bytes=(\d+)-(\d+)")
_window = threading.local()


class _RangeOfObject(bytes):
    """One byte range of a stored object, standing in for the whole object in moto's range
    handling: its length is the object's, and slicing at the range gives the range's bytes."""

    begin: int
    size: int

    def __new__(cls, data: bytes, begin: int, size: int) -> _RangeOfObject:
        window = super().__new__(cls, data)
        window.begin, window.size = begin, size
        return window

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, slice) and item.start == self.begin:
            return bytes(memoryview(self)[: (item.stop or self.size) - self.begin])
        raise IndexError("only the requested range of the object was read")


def _patch_ranged_gets() -> None:
    from moto.s3.models import FakeKey
    from moto.s3.responses import S3Response

    whole_value: property = FakeKey.value  # type: ignore[assignment]
    whole_get: Callable[[Any], Any] = S3Response.get_object

    def value(key: Any) -> bytes:
        wanted = getattr(_window, "range", None)
        if wanted is None:
            result: bytes = whole_value.fget(key)  # type: ignore[misc]
            return result
        begin, end = wanted
        with key.lock:
            key._value_buffer.seek(begin)
            data = key._value_buffer.read(max(0, end - begin + 1))
        return _RangeOfObject(data, begin, key.contentsize)

    def get_object(response: Any) -> Any:
        match = _RANGE.fullmatch(response.headers.get("range") or "")
        _window.range = (int(match[1]), int(match[2])) if match else None
        try:
            return whole_get(response)
        finally:
            _window.range = None

    FakeKey.value = property(value, whole_value.fset)  # type: ignore[method-assign, assignment]
    S3Response.get_object = get_object  # type: ignore[method-assign, assignment]


class _LoggedApp:
    """WSGI middleware: one log line per request, written when its body has been sent."""

    def __init__(self, app: Callable[..., Iterable[bytes]], log: Path):
        self.app = app
        self.file = log.open("a", buffering=1)
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        started = time.time()
        record = {
            "start": started,
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "range": environ.get("HTTP_RANGE"),
        }
        sent = 0
        try:
            for block in self.app(environ, start_response):
                sent += len(block)
                yield block
        finally:
            record.update(end=time.time(), bytes=sent)
            with self.lock:
                self.file.write(json.dumps(record) + "\n")


@dataclass(frozen=True, slots=True)
class Request:
    start: float
    end: float
    method: str
    path: str
    range: str | None
    bytes: int


class RequestLog:
    """The log file of a ``moto_logged`` server; ``mark()`` then ``since(mark)`` reads one phase."""

    def __init__(self, path: Path):
        self.path = path

    def mark(self) -> int:
        return self.path.stat().st_size if self.path.exists() else 0

    def since(self, mark: int, settle: float = 0.2) -> list[Request]:
        """The requests logged after ``mark``, once the log has stopped growing for ``settle``
        seconds (a request's line is written after its last byte was sent, so just after the
        client has read it; at most 5 s of waiting)."""
        deadline, size = time.monotonic() + 5.0, -1
        while time.monotonic() < deadline and size != self.mark():
            size = self.mark()
            time.sleep(settle)
        with self.path.open("rb") as file:
            file.seek(mark)
            lines = file.read().decode().splitlines()
        return [Request(**json.loads(line)) for line in lines if line.strip()]


def summarise(requests: list[Request], latency: float = 0.0) -> dict[str, Any]:
    """GETs and bytes of source chunk objects (Icechunk ``/chunks/``) and of everything else, and
    the most requests in flight at once, as the client saw them (each request's start moved back
    by the proxy's added ``latency``, which it spends before forwarding)."""
    chunk = [r for r in requests if r.method == "GET" and "/chunks/" in r.path]
    other_get = [r for r in requests if r.method == "GET" and "/chunks/" not in r.path]
    events = sorted([(r.start - latency, 1) for r in requests] + [(r.end, -1) for r in requests])
    in_flight = peak = 0
    for _, step in events:
        in_flight += step
        peak = max(peak, in_flight)
    chunk_events = sorted([(r.start - latency, 1) for r in chunk] + [(r.end, -1) for r in chunk])
    chunk_peak = in_flight = 0
    for _, step in chunk_events:
        in_flight += step
        chunk_peak = max(chunk_peak, in_flight)
    return {
        "requests": len(requests),
        "chunk_gets": len(chunk),
        "chunk_bytes": sum(r.bytes for r in chunk),
        "other_gets": len(other_get),
        "other_get_bytes": sum(r.bytes for r in other_get),
        "puts": sum(1 for r in requests if r.method in ("PUT", "POST")),
        "max_in_flight": peak,
        "max_chunk_gets_in_flight": chunk_peak,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log", required=True, type=Path)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    _patch_ranged_gets()
    app = _LoggedApp(DomainDispatcherApplication(create_backend_app), args.log)
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    sys.stdout.write(json.dumps({"url": f"http://127.0.0.1:{server.server_address[1]}"}) + "\n")
    sys.stdout.flush()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
