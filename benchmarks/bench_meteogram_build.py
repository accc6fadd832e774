"""The dashboard's hand-built Bokeh meteogram versus the same plot in HoloViews; prints JSON.

Both draw the same ``OverviewFrames`` (computed beforehand by ``OverviewState.frames`` for a
scripted series of selections, so only drawing is timed) into a Bokeh document, as a server
session does:

- **bokeh**: ``forecast_panel.views.meteogram.Meteogram`` (what the app and ``store.meteogram``
  use): fixed glyphs, a redraw replaces their ``ColumnDataSource.data``.
- **holoviews**: the idiomatic equivalent (``VSpans``, ``Segments`` and ``Rectangles`` overlaid,
  colour and hover from columns, the exceedance plot below), as two ``DynamicMap``s fed by one
  ``Pipe`` so that a redraw updates the plot in place (HoloViews' fast path), not a re-render.

Per path: first render (build + the document's full JSON, what a new session sends) and per
redraw the server time (update + serialising the resulting PATCH-DOC message) and the message
size. Store: ``--store`` (one the pipeline wrote), else a demo-size one built in a temporary
folder (about a minute; see ``bench_app_server``).

Run: .venv/bin/python -m benchmarks.bench_meteogram_build [--store DIR] [--changes 40]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.bench_app_server import build_demo_store, percentiles, scripted_changes

SEGMENT = ["x0", "y0", "x1", "y1"]
STATS = ["valid", "source", "min", "q10", "q25", "median", "q75", "q90", "max", "members"]


def holoviews_overview(frames: Any) -> tuple[Any, Any]:
    """(main, exceedance) HoloViews overlays of ``frames``, styled like the app's meteogram."""
    import holoviews as hv

    def segments(frame: Any, **style: Any) -> Any:
        return hv.Segments(frame, kdims=SEGMENT, vdims=["color"]).opts(**{"color": "color", **style})

    def rectangles(frame: Any, vdims: list[str], **style: Any) -> Any:
        return hv.Rectangles(frame, kdims=SEGMENT, vdims=[*vdims, "color"]).opts(
            color="color", line_color="color", **style
        )

    main = (
        hv.VSpans(frames.missing, kdims=["x0", "x1"]).opts(color="#bbbbbb", alpha=0.35)
        * segments(frames.members, alpha=0.25)
        * rectangles(frames.outer, [], alpha=0.35)
        * segments(frames.whiskers, line_width=1.5)
        * rectangles(frames.inner, STATS, alpha=0.75, tools=["hover"])
        * segments(frames.medians, color="black", line_width=2)
        * segments(frames.previous, line_dash="dashed", line_width=2)
    ).opts(responsive=True, height=400, xlabel="valid time (UTC)", tools=["xwheel_zoom"], active_tools=["pan"])
    exceedance = rectangles(frames.exceedance, ["valid", "source", "probability"], tools=["hover"]).opts(
        responsive=True, height=230, ylim=(0, 100), ylabel="%"
    )
    return main, exceedance


def _message_bytes(message: Any) -> int:
    return len(message.content_json) + sum(len(buffer.data) for buffer in message.buffers)


def _patch_bytes(events: list[Any]) -> int:
    from bokeh.protocol import Protocol

    return _message_bytes(Protocol().create("PATCH-DOC", events)) if events else 0


def _document_bytes(document: Any) -> int:
    """Size of the PULL-DOC-REPLY a new session receives (the whole document)."""
    from bokeh.core.types import ID
    from bokeh.protocol import Protocol

    return _message_bytes(Protocol().create("PULL-DOC-REPLY", ID("request"), document))


class BokehPath:
    """The app's Meteogram in a document."""

    def __init__(self, first: Any, titles: Callable[[], dict[str, Any]]) -> None:
        from bokeh.document import Document
        from bokeh.layouts import column

        from forecast_panel.views.meteogram import Meteogram

        self.titles = titles
        self.document = Document()
        self.meteogram = Meteogram()
        self.meteogram.update(first, **titles())
        self.document.add_root(column(self.meteogram.main, self.meteogram.exceedance, sizing_mode="stretch_width"))

    def redraw(self, frames: Any) -> None:
        self.meteogram.update(frames, **self.titles())


class HoloViewsPath:
    """The HoloViews equivalent, rendered once and updated through a Pipe."""

    def __init__(self, first: Any) -> None:
        import holoviews as hv
        from bokeh.document import Document

        self.pipe = hv.streams.Pipe(data=first)
        main = hv.DynamicMap(lambda data: holoviews_overview(data)[0], streams=[self.pipe])
        exceedance = hv.DynamicMap(lambda data: holoviews_overview(data)[1], streams=[self.pipe])
        self.document = Document()
        plot = hv.renderer("bokeh").get_plot((main + exceedance).cols(1), doc=self.document)
        self.document.add_root(plot.state)

    def redraw(self, frames: Any) -> None:
        self.pipe.send(frames)


def measure(make: Callable[[], Any], series: list[Any]) -> dict[str, Any]:
    started = time.perf_counter()
    path = make()
    full = _document_bytes(path.document)
    first_render = time.perf_counter() - started
    events: list[Any] = []
    path.document.on_change(events.append)
    seconds, sizes = [], []
    for frames in series:
        events.clear()
        started = time.perf_counter()
        path.redraw(frames)
        sizes.append(_patch_bytes(events))
        seconds.append(time.perf_counter() - started)
    return {
        "first_render_ms": round(first_render * 1000, 1),
        "first_document_bytes": full,
        "redraw": percentiles(seconds),
        "redraw_message_bytes_p50": int(statistics.median(sizes)),
    }


def run(store: str, count: int) -> dict[str, Any]:
    from forecast_core import units
    from forecast_panel.app import load_extensions
    from forecast_panel.data import DataStore
    from forecast_panel.state import OverviewState

    load_extensions()
    state = OverviewState(DataStore(store, manifest_ttl_seconds=3600), show_members=True, compare_previous=True)
    series = []
    for change in scripted_changes(state, count):
        state.param.update(**change)
        series.append(state.frames())
    first = state.frames()

    def titles() -> dict[str, Any]:
        return {"title": state.title(), "unit": units.label(state.display_unit()), "bands": False, "threshold": "1"}

    results = {
        "bokeh": measure(lambda: BokehPath(first, titles), series),
        "holoviews": measure(lambda: HoloViewsPath(first), series),
    }
    ratio = results["holoviews"]["redraw"]["p50_ms"] / max(results["bokeh"]["redraw"]["p50_ms"], 1e-9)
    return {
        "benchmark": "meteogram_bokeh_vs_holoviews",
        "store": store,
        "changes": count,
        "boxes_p50": int(statistics.median(len(frames.inner) for frames in series)),
        **results,
        "holoviews_over_bokeh_redraw_p50": round(ratio, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", help="store written by the pipeline (default: build a demo-size one)")
    parser.add_argument("--changes", type=int, default=40)
    args = parser.parse_args()
    os.environ.setdefault("ICECHUNK_LOG", "error")
    with tempfile.TemporaryDirectory() as folder:
        store = args.store or str(build_demo_store(Path(folder)))
        result = run(store, args.changes)
    result["load_average_1m"] = os.getloadavg()[0]
    result["cpu_count"] = os.cpu_count()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
