"""The HTTP machinery of the misbehaving S3 proxy (``forecast_smoke.s3_proxy``): a threaded
stdlib server whose handler forwards each request upstream and relays — or spoils — the answer
as the fault plan's draw says."""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from forecast_smoke.s3_faults import FaultDecider, RequestInfo, error_response

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer", "upgrade", "expect"}
)
_BUFFERED_BODY_BYTES = 1 << 20  # request bodies up to this size are read whole (and hashed for the draw)
_BLOCK = 64 * 1024
_UPSTREAM_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class Shaping:
    """Latency added to every request (seconds) and each response's bandwidth cap (bytes/s, None: none)."""

    latency: float = 0.0
    bandwidth: float | None = None


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, upstream: tuple[str, int], decider: FaultDecider, shaping: Shaping) -> None:
        super().__init__(("127.0.0.1", port), ProxyHandler)
        self.upstream = upstream
        self.decider = decider
        self.shaping = shaping
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def shutdown_request(self, request: Any) -> None:
        if request.fileno() == -1:  # reset on purpose: already closed, nothing to shut down
            return
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.open_connections)
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ProxyServer
    _upstream: http.client.HTTPConnection | None = None

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.open_connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.open_connections.discard(self.connection)
        if self._upstream is not None:
            self._upstream.close()
        with suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _serve(self) -> None:
        self._proxy()

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = _serve  # noqa: N815 (http.server names)

    # --- one request --------------------------------------------------------------------------------

    def _proxy(self) -> None:
        request = RequestInfo(self.command, self.path, {name.lower(): value for name, value in self.headers.items()})
        try:
            body = self._request_body()
        except (OSError, ValueError):
            self.close_connection = True
            return
        digest = hashlib.sha256(body).hexdigest() if isinstance(body, bytes) else ""
        kind, plan = self.server.decider.decide(request, digest)
        if kind in ("slowdown", "internal", "reset"):
            if not isinstance(body, bytes):
                _drain(body)
            self._inject(kind, request)
            return
        if self.server.shaping.latency > 0:
            time.sleep(self.server.shaping.latency)
        try:
            response = self._forward(body)
        except (OSError, http.client.HTTPException) as error:
            self._send_plain(502, f"upstream unreachable: {error}".encode())
            return
        with response:
            if kind == "lost_response":
                response.read()
                self.server.decider.record(kind, request)
                self._reset()
                return
            if kind == "slow":
                time.sleep(plan.slow_seconds)
                self.server.decider.record(kind, request)
            self._relay(response, request, truncate=kind == "truncate")

    def _request_body(self) -> bytes | Iterator[bytes] | None:
        """The request body: bytes when chunked or small, a block iterator when large, None if none."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return _read_chunked(self.rfile)
        length = self.headers.get("Content-Length")
        if length is None:
            return None
        size = int(length)
        if size <= _BUFFERED_BODY_BYTES:
            return _read_exactly(self.rfile, size)
        return _blocks(self.rfile, size)

    def _inject(self, kind: str, request: RequestInfo) -> None:
        self.server.decider.record(kind, request)
        if kind == "reset":
            self._reset()
            return
        status, reason, content_type, payload = error_response(kind, request, uuid.uuid4().hex[:16].upper())
        self.send_response_only(status, reason)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amz-request-id", uuid.uuid4().hex[:16].upper())
        self.end_headers()
        self.wfile.write(payload)

    def _forward(self, body: bytes | Iterator[bytes] | None) -> http.client.HTTPResponse:
        """Send the request upstream (same method, path, headers; hop-by-hop headers dropped) and
        return its response. A kept-alive upstream connection the server closed meanwhile is
        replaced once when the body can be sent again."""
        for attempt in (0, 1):
            reused = self._upstream is not None
            if self._upstream is None:
                host, port = self.server.upstream
                self._upstream = http.client.HTTPConnection(host, port, timeout=_UPSTREAM_TIMEOUT)
            try:
                self._send_upstream(self._upstream, body)
                return self._upstream.getresponse()
            except (ConnectionError, http.client.RemoteDisconnected):
                self._upstream.close()
                self._upstream = None
                if not reused or attempt == 1 or not (body is None or isinstance(body, bytes)):
                    raise
        raise AssertionError("unreachable")

    def _send_upstream(self, connection: http.client.HTTPConnection, body: bytes | Iterator[bytes] | None) -> None:
        connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            lowered = name.lower()
            if lowered in _HOP_BY_HOP or lowered == "transfer-encoding":
                continue
            if lowered == "content-length" and isinstance(body, bytes):
                continue
            connection.putheader(name, value)
        if isinstance(body, bytes):
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        if isinstance(body, bytes):
            connection.send(body)
        elif body is not None:
            for block in body:
                connection.send(block)

    def _relay(self, response: http.client.HTTPResponse, request: RequestInfo, truncate: bool) -> None:
        """Send upstream's answer on: headers, then the body (shaped; cut in half if ``truncate``)."""
        headers = [(name, value) for name, value in response.getheaders() if name.lower() not in _HOP_BY_HOP]
        no_body = self.command == "HEAD" or response.status in (204, 304) or response.status < 200
        streamed = not no_body and not response.chunked and response.length is not None and not truncate
        payload = b"" if no_body or streamed else response.read()
        if truncate and not payload:
            truncate = False  # nothing to cut: relayed whole, no fault counted
        self.send_response_only(response.status, response.reason)
        for name, value in headers:
            if name.lower() in ("transfer-encoding", "content-length") and not no_body:
                continue
            self.send_header(name, value)
        if not no_body:
            self.send_header("Content-Length", str(response.length if streamed else len(payload)))
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if no_body:
            return
        if truncate:
            self.server.decider.record("truncate", request)
            self._write(payload[: len(payload) // 2])
            self.close_connection = True
            return
        self._write(_response_blocks(response) if streamed else iter((payload,)))

    def _write(self, blocks: Iterator[bytes] | bytes) -> None:
        """Write body blocks to the client at most at the shaping's bandwidth."""
        if isinstance(blocks, bytes):
            blocks = iter((blocks,))
        bandwidth = self.server.shaping.bandwidth
        started, sent = time.monotonic(), 0
        for block in blocks:
            step = _BLOCK if bandwidth is None else max(1024, min(_BLOCK, int(bandwidth / 50)))
            for start in range(0, len(block), step):
                piece = block[start : start + step]
                self.wfile.write(piece)
                sent += len(piece)
                if bandwidth is not None:
                    ahead = started + sent / bandwidth - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)

    def _send_plain(self, status: int, message: bytes) -> None:
        self.send_response_only(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(message)))
        self.end_headers()
        self.wfile.write(message)

    def _reset(self) -> None:
        """Reset the client's connection (RST, not a clean close) without a response."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with self.server.connections_lock:
            self.server.open_connections.discard(self.connection)
        os.close(self.connection.detach())


def _read_exactly(stream: Any, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise ValueError("request body shorter than its Content-Length")
    return bytes(data)


def _blocks(stream: Any, size: int) -> Iterator[bytes]:
    left = size
    while left > 0:
        block = stream.read(min(_BLOCK, left))
        if not block:
            raise ValueError("request body shorter than its Content-Length")
        left -= len(block)
        yield block


def _drain(blocks: Iterator[bytes] | None) -> None:
    for _ in blocks or ():
        pass


def _read_chunked(stream: Any) -> bytes:
    """A chunked request body, de-chunked (trailers discarded)."""
    parts: list[bytes] = []
    while True:
        size = int(stream.readline().split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while stream.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        parts.append(_read_exactly(stream, size))
        stream.readline()


def _response_blocks(response: http.client.HTTPResponse) -> Iterator[bytes]:
    while block := response.read(_BLOCK):
        yield block
