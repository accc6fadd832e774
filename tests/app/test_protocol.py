"""The served app on the wire, without a browser: what one session's redraw sends, and to whom.

Uses the websocket session of ``benchmarks/bench_app_websockets.py``: the page's token, Bokeh's
protocol, the PATCH-DOC a browser sends when the Point select changes.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from benchmarks.bench_app_websockets import Session


async def _redraw(url: str) -> tuple[list[dict[str, object]], int]:
    mine, other = await Session.open(url + "/"), await Session.open(url + "/")
    try:
        events = await asyncio.wait_for(mine.switch_events(mine.other_point(0)), 60)
        try:  # whatever reaches the other session meanwhile (it changed nothing)
            await asyncio.wait_for(other.receive(), 1.0)
            sent_to_other = 1
        except TimeoutError:
            sent_to_other = 0
        return events, sent_to_other
    finally:
        mine.close()
        other.close()


def test_a_point_switch_sends_its_session_the_redraw_and_other_sessions_nothing(app_url: str) -> None:
    # in a thread of its own: Playwright's session-wide browser keeps an event loop on this one
    with ThreadPoolExecutor(1) as pool:
        events, sent_to_other = pool.submit(asyncio.run, _redraw(app_url)).result()
    attributes = {str(item.get("attr")) for item in events}
    assert {"data", "text", "tags"} <= attributes  # plot data, title and header, the busy cue's end
    assert not attributes & {"stylesheets", "css_classes"}, "no styles re-sent, no process-wide busy spinner"
    assert sent_to_other == 0
