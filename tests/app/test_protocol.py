"""The served app on the wire, without a browser: what one session's redraw sends, and to whom.

Uses ``forecast_smoke.dashboard_session`` (as the websocket benchmarks do): the page's token,
Bokeh's protocol, the PATCH-DOC a browser sends when the Point select changes.
"""

from __future__ import annotations

import asyncio
import json

from forecast_smoke.dashboard_session import DashboardSession
from tests.support import run_on_own_loop

HANG_GUARD_SECONDS = 300  # each step ends as soon as its reply is in; this only stops a hang


async def _pushed_before_a_round_trip(session: DashboardSession) -> list[str]:
    """Send the server one request (a title change) and return the types of the messages it sent
    this session before answering it: a push caused by another session would be among them, as
    the server writes a session's messages in order."""
    header = {"msgid": "round-trip", "msgtype": "PATCH-DOC"}
    content = {"events": [{"kind": "TitleChanged", "title": "round trip"}]}
    for part in (header, {}, content):
        await session.connection.write_message(json.dumps(part))
    pushed: list[str] = []
    while True:
        reply, _ = await session.receive()
        if reply.get("reqid") == "round-trip":
            return pushed
        pushed.append(str(reply.get("msgtype")))


async def _redraw(url: str) -> tuple[list[dict[str, object]], list[str]]:
    mine, other = await DashboardSession.open(url + "/"), await DashboardSession.open(url + "/")
    try:
        events = await asyncio.wait_for(mine.switch_events(mine.other_point(0)), HANG_GUARD_SECONDS)
        sent_to_other = await asyncio.wait_for(_pushed_before_a_round_trip(other), HANG_GUARD_SECONDS)
        return events, sent_to_other
    finally:
        mine.close()
        other.close()


def test_a_point_switch_sends_its_session_the_redraw_and_other_sessions_nothing(app_url: str) -> None:
    events, sent_to_other = run_on_own_loop(_redraw(app_url))
    attributes = {str(item.get("attr")) for item in events}
    assert {"data", "text", "tags"} <= attributes  # plot data, title and header, the busy cue's end
    assert not attributes & {"stylesheets", "css_classes"}, "no styles re-sent, no process-wide busy spinner"
    assert sent_to_other == [], "the other session (which changed nothing) was sent nothing"
