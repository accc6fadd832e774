"""A dashboard session spoken to over its websocket, as a browser does minus the rendering.

``DashboardSession.open(url)`` loads the page (the server creates the session and its document),
opens the session's websocket with the page's token in Bokeh's protocol, pulls the document,
finds the Point select and says the document is ready, as BokehJS does once it has rendered;
``switch(value)`` sends the same ``PATCH-DOC`` a browser sends when the Point select changes and
waits until the page header names the new point and the meteogram's new revision has arrived.
Used by the protocol tests and the websocket benchmarks (and usable against a deployed
dashboard); it reads only JSON frames and drops binary buffers.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import time
import urllib.request
from typing import Any

from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

TOKEN = re.compile(r'"token":\s*"([^"]+)"')
SWITCH_TIMEOUT_SECONDS = 60.0  # a reply that never comes fails the benchmark, never hangs it
_message_ids = itertools.count(1)
# The event BokehJS sends once the page's document is rendered; until it arrives Panel treats the
# session as not yet connected and defers every pane update to callbacks of their own.
DOCUMENT_READY = {
    "kind": "MessageSent",
    "msg_type": "bokeh_event",
    "msg_data": {"type": "event", "name": "document_ready", "values": {"type": "map", "entries": []}},
}


class DashboardSession:
    """One dashboard session spoken to in Bokeh's websocket protocol (header, metadata and
    content text frames, then a text header and a binary frame per buffer)."""

    def __init__(self, connection: WebSocketClientConnection) -> None:
        self.connection = connection
        self.document: dict[str, Any] = {}
        self.point_select = ""
        self.labels: dict[str, str] = {}  # option value → its label (the plot title starts with it)
        self.current = ""  # the selected point

    @classmethod
    async def open(cls, base: str) -> DashboardSession:
        """A new session of the dashboard served at the http(s) URL ``base``, its document pulled."""
        if not base.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {base!r}")
        page = await asyncio.to_thread(
            lambda: urllib.request.urlopen(base, timeout=60).read().decode()  # noqa: S310 (scheme checked)
        )
        match = TOKEN.search(page)
        if match is None:
            raise RuntimeError("no session token in the page")
        origin = base.rstrip("/")
        request = HTTPRequest(origin.replace("http", "ws", 1) + "/ws", headers={"Origin": origin})
        connection = await websocket_connect(request, subprotocols=["bokeh", match.group(1)])
        session = cls(connection)
        await session.receive()  # ACK
        await session.send("PULL-DOC-REQ", {})
        _, content = await session.receive()
        session.document = content["doc"]
        session._find_point_select()
        ready = await session.send("PATCH-DOC", {"events": [DOCUMENT_READY]})  # as BokehJS does once rendered
        while (await session.receive())[0].get("reqid") != ready:  # until the server's OK
            pass
        return session

    def _find_point_select(self) -> None:
        for model in document_models(self.document):
            attributes = model.get("attributes", {})
            if str(model.get("name")).endswith("Select") and attributes.get("title") == "Point":
                self.point_select = model["id"]
                self.current = str(attributes.get("value"))
                for option in attributes.get("options", []):
                    value, label = option if isinstance(option, list) else (option, option)
                    if "pending" not in str(label):  # no forecast yet: nothing to redraw
                        self.labels[str(value)] = str(label)
        if not self.point_select:
            raise RuntimeError("no Point select in the document")

    async def send(self, msgtype: str, content: dict[str, Any]) -> str:
        """Send one message; returns its id (the server's reply names it as ``reqid``)."""
        header = {"msgid": str(next(_message_ids)), "msgtype": msgtype}
        for part in (header, {}, content):
            await self.connection.write_message(json.dumps(part))
        return header["msgid"]

    async def receive(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The next whole message: its header and content (buffers are read and dropped)."""
        header = json.loads(await self._frame())
        await self._frame()  # metadata
        content = json.loads(await self._frame())
        for _ in range(2 * int(header.get("num_buffers", 0))):
            await self._frame()
        return header, content

    async def _frame(self) -> str | bytes:
        frame = await self.connection.read_message()
        if frame is None:
            raise ConnectionError("the server closed the session")
        return frame

    def other_point(self, offset: int) -> str:
        """A point other than the selected one (``offset`` ≥ 0 picks which)."""
        values = sorted(self.labels)
        if len(values) < 2:
            raise RuntimeError("the store needs two points with a forecast to switch between")
        start = values.index(self.current) if self.current in values else 0
        return values[(start + 1 + offset % (len(values) - 1)) % len(values)]

    async def switch(self, value: str) -> float:
        """Seconds from sending the Point select's new value to the end of the reply that
        redraws the page for it (``SWITCH_TIMEOUT_SECONDS`` at most)."""
        started = time.perf_counter()
        await asyncio.wait_for(self.switch_events(value), SWITCH_TIMEOUT_SECONDS)
        return time.perf_counter() - started

    async def switch_events(self, value: str) -> list[dict[str, Any]]:
        """Send the Point select's new value; return the events the server sent until the header
        names the new point and the meteogram's revision follows (the reply's user-visible end)."""
        if value == self.current:
            raise ValueError(f"{value!r} is already selected: the server would not redraw")
        label = self.labels[value]
        event = {"kind": "ModelChanged", "model": {"id": self.point_select}, "attr": "value", "new": value}
        await self.send("PATCH-DOC", {"events": [event]})
        received: list[dict[str, Any]] = []
        redrawn = header = False
        while not (redrawn and header):
            kind, content = await self.receive()
            if kind.get("msgtype") != "PATCH-DOC":
                continue
            for item in content.get("events", []):
                received.append(item)
                text = str(item.get("new", "")) if item.get("attr") == "text" else ""
                header = header or (f"&gt;{html.escape(html.escape(label))}&lt;/b&gt;" in text)
                redrawn = redrawn or is_revision(item)
        self.current = value
        return received

    def close(self) -> None:
        self.connection.close()


def is_revision(event: dict[str, Any]) -> bool:
    """Whether a patch event is the meteogram's new revision (its layout's ``tags``: set after
    every panel's data)."""
    new = event.get("new")
    return event.get("attr") == "tags" and isinstance(new, list) and len(new) == 1 and isinstance(new[0], int)


def document_models(node: Any) -> list[dict[str, Any]]:
    """Every serialised model (``type: object`` with an id) anywhere in a document."""
    found: list[dict[str, Any]] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("type") == "object" and "id" in item:
                found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found
