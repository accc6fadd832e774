"""``forecast-panel api``: the Lambda handler served over HTTP on loopback (embedded repository).

Each HTTP request becomes an API Gateway REST proxy event (``/{proxy+}`` resource, stage
``local``) and goes through ``points_api.app.handle`` exactly as in Lambda, with a fake context.
Requests are handled one at a time per process: the Powertools resolver keeps per-request state
on a module-level object, just as one Lambda instance handles one event at a time. Several
processes may serve one store; the repository's lock / compare-and-swap keeps them consistent.
"""

from __future__ import annotations

import argparse
import base64
import logging
import signal
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext

from forecast_core.store_options import add_store_arguments
from points_api import services
from points_api.settings import ApiSettings

log = logging.getLogger(__name__)
DEFAULT_PORT = 5007
_HANDLER_LOCK = threading.Lock()


@dataclass
class FakeLambdaContext:
    """The LambdaContext attributes Powertools reads."""

    function_name: str = "points-api-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:local:000000000000:function:points-api-local"
    aws_request_id: str = ""
    log_group_name: str = "/local/points-api"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def proxy_event(
    method: str, raw_path: str, headers: dict[str, list[str]], body: bytes | None, source_ip: str = "127.0.0.1"
) -> dict[str, Any]:
    """The API Gateway REST proxy event for one HTTP request (``/{proxy+}`` resource)."""
    parsed = urllib.parse.urlsplit(raw_path)
    path = urllib.parse.unquote(parsed.path) or "/"
    query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
    text: str | None = None
    encoded = False
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode("ascii"), True
    request_id = str(uuid.uuid4())
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in headers.items()},
        "multiValueHeaders": headers,
        "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/local{path}",
            "stage": "local",
            "requestId": request_id,
            "accountId": "000000000000",
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": (headers.get("User-Agent") or [""])[-1]},
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    """Call the Lambda handler on ``event``, one call at a time per process."""
    from points_api.handler import lambda_handler

    context = FakeLambdaContext(aws_request_id=event["requestContext"]["requestId"])
    with _HANDLER_LOCK:
        result: dict[str, Any] = lambda_handler(event, cast(LambdaContext, context))
    return result


class ProxyHandler(BaseHTTPRequestHandler):
    """HTTP → REST proxy event → handler → HTTP."""

    server_version = "points-api-local"
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        limit = services.current().max_body_bytes
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, limit + 1)) if length > 0 else None
        if length > limit + 1:
            self.close_connection = True  # the rest of the body stays unread
        headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            headers.setdefault(name, []).append(value)
        result = invoke(proxy_event(self.command, self.path, headers, body, self.client_address[0]))
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode("utf-8")
        self.send_response(int(result.get("statusCode", 500)))
        sent = set()
        for name, values in (result.get("multiValueHeaders") or {}).items():
            for value in values:
                self.send_header(name, str(value))
            sent.add(name.lower())
        for name, value in (result.get("headers") or {}).items():
            if name.lower() not in sent and name.lower() != "content-length":
                self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = do_OPTIONS = _serve  # noqa: N815 (http.server names)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class LocalApiServer(ThreadingHTTPServer):
    """Threaded HTTP server with a listen backlog for bursts (socketserver's default is 5, so
    dozens of simultaneous clients would see refused or reset connections)."""

    request_queue_size = 128
    daemon_threads = True


def start_server(host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Serve the configured services in a daemon thread; returns the server and its base URL."""
    server = LocalApiServer((host, port), ProxyHandler)
    threading.Thread(target=server.serve_forever, name="points-api-local", daemon=True).start()
    return server, _base_url(server)


def _base_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host if isinstance(host, str) else host.decode()}:{port}"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    add_store_arguments(parser)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any)")
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument(
        "--no-extract",
        action="store_true",
        help="do not start a targeted extraction after a create (also: POINTS_API_TARGETED_EXTRACTION=0)",
    )


def run(args: argparse.Namespace) -> int:
    from_env = ApiSettings.from_env()
    settings = ApiSettings(
        artifact_store_url=args.store,
        dedupe_distance_km=from_env.dedupe_distance_km,
        max_body_bytes=from_env.max_body_bytes,
        targeted_extraction=from_env.targeted_extraction and not args.no_extract,
        endpoint_url=args.endpoint_url or from_env.endpoint_url,
    )
    services.configure(services.build_services(settings))
    server = LocalApiServer((args.host, args.port), ProxyHandler)
    print(f"write-back API on {_base_url(server)} (store {args.store})", flush=True)  # noqa: T201
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main() -> None:  # pragma: no cover - convenience for `python -m points_api.local_server`
    logging.basicConfig(level=logging.INFO)
    parser = argparse.ArgumentParser(prog="points-api-local")
    configure_parser(parser)
    raise SystemExit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
