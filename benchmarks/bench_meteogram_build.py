"""The dashboard's hand-built Bokeh meteogram versus the same plot in HoloViews; prints JSON.

Both draw the same ``MeteogramFrames`` (computed beforehand by ``OverviewState.frames`` for a
scripted series of selection changes, so only drawing is timed) into a Bokeh document, as a
server session does:

- **bokeh**: ``forecast_panel.views.meteogram.Meteogram`` (what the app and ``store.meteogram``
  use): three stacked panels and the probability strip on one x range, fixed glyphs; a redraw
  replaces their ``ColumnDataSource.data`` (box edges placed by ``Dodge`` transforms in the
  browser, colours by a colour mapper on the index ``k``).
- **holoviews**: the idiomatic equivalent: per panel an overlay of ``VSpans`` (leads not
  ingested), ``Segments`` (member traces, whiskers, median ticks, band medians, the previous
  init's median), ``Rectangles`` (the q10–q90 and q25–q75 boxes, per step and per day, hover on
  the inner box) and ``Scatter`` (snowfall markers), colour mapped from ``k``; the strip as
  ``Rectangles`` coloured by probability with ``Labels``; the four stacked in a ``Layout`` whose
  shared time dimension links the x axes. Each is a ``DynamicMap`` fed by one ``Pipe``, so a
  redraw updates the existing plots in place (HoloViews' fast path), not a re-render.

Per path: first render (build + the document's full JSON, what a new session sends) and per
redraw the server time (update + serialising the resulting PATCH-DOC message) and the message
size. Store: ``--store`` (one the pipeline wrote), else a demo-size one built in a temporary
folder (about a minute; see ``bench_app_server``). Not covered: the browser's drawing time.

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

import numpy as np

from benchmarks.bench_app_server import build_demo_store, percentiles, scripted_changes

TIME = "time"
DAY = np.timedelta64(1, "D").astype("timedelta64[ns]")
BOX_HOVER = ["median", "q10", "q90", "n"]


def _ms(value: float) -> np.timedelta64:
    return np.timedelta64(int(value * 1e6), "ns")


def holoviews_panel(frames: Any, panel_id: str) -> Any:
    """One meteogram panel of ``frames`` as a HoloViews overlay, styled like the app's."""
    import holoviews as hv

    y0, y1 = f"{panel_id}_low", f"{panel_id}_high"
    kdims = [TIME, y0, f"{TIME}_end", y1]
    palette = [color for _, color in frames.legend] or ["#0072b2"]
    colour = {"color": hv.dim("k"), "cmap": palette, "clim": (-0.5, len(palette) - 0.5)}
    panel = next((item for item in frames.panels if item.panel_id == panel_id), None)

    def segments(columns: dict[str, np.ndarray], **style: Any) -> Any:
        data = (columns["x0"], columns["y0"], columns["x1"], columns["y1"], columns["k"])
        return hv.Segments(data, kdims=kdims, vdims=["k"]).opts(**{**colour, **style})

    def boxes(box: Any) -> list[Any]:
        c, wide, narrow = box.columns, _ms(box.wide_ms), _ms(box.narrow_ms)
        outer = hv.Rectangles((c["xc"] - narrow, c["q10"], c["xc"] + narrow, c["q90"], c["k"]), kdims, ["k"])
        inner_data = (
            c["xc"] - wide,
            c["q25"],
            c["xc"] + wide,
            c["q75"],
            c["k"],
            c["median"],
            c["q10"],
            c["q90"],
            c["n"],
        )
        inner = hv.Rectangles(inner_data, kdims, ["k", *BOX_HOVER])
        whiskers = {"x0": c["xc"], "y0": c["min"], "x1": c["xc"], "y1": c["max"], "k": c["k"]}
        ticks = {"x0": c["xc"] - wide, "y0": c["median"], "x1": c["xc"] + wide, "y1": c["median"], "k": c["k"]}
        return [
            segments(whiskers, line_width=1.5),
            outer.opts(alpha=0.35, **colour),
            inner.opts(alpha=0.8, tools=["hover"], **colour),
            segments(ticks, color="black", line_width=2),
        ]

    empty = {name: np.empty(0) for name in ("x0", "y0", "x1", "y1", "k")}
    layers = [hv.VSpans((frames.missing["x0"], frames.missing["x1"]), kdims=[TIME, f"{TIME}_end"]).opts(
        color="#bbbbbb", alpha=0.35)]  # fmt: skip
    if panel is None:
        return hv.Overlay([*layers, segments(empty)])
    marks = panel.overlay
    layers += [
        segments(panel.members, alpha=0.25),
        *boxes(panel.steps),
        *boxes(panel.days),
        segments(panel.lines, line_width=2),
        segments(panel.previous, line_dash="dashed", line_width=2),
        hv.Scatter((marks["x"], marks["y"]), TIME, y0).opts(marker="asterisk", size=9, color="#222222"),
    ]
    return hv.Overlay(layers).opts(
        title=f"{panel.title} ({panel.unit})", ylabel=panel.unit, xlabel="", responsive=True, height=190
    )


def holoviews_strip(data: Any) -> Any:
    """The probability strip: one cell per day and row, coloured by the probability, with its number."""
    import holoviews as hv

    frames = data  # named as the Pipe's parameter
    cells = frames.strip
    half = (DAY * 0.48).astype("timedelta64[ns]")
    data = (cells["x"] - half, cells["y"] - 0.46, cells["x"] + half, cells["y"] + 0.46, cells["p"])
    heat = hv.Rectangles(data, [TIME, "row", f"{TIME}_end", "row_end"], ["p"]).opts(
        color="p", cmap="Blues", clim=(0, 100), line_alpha=0, tools=["hover"]
    )
    labels = hv.Labels((cells["x"], cells["y"], cells["label"]), [TIME, "row"], ["label"]).opts(
        text_font_size="10px", text_color="black"
    )
    ticks = list(frames.strip_axis.ticks.items())
    return (heat * labels).opts(
        responsive=True, height=40 + 17 * max(frames.strip_axis.rows, 1), yticks=ticks, invert_yaxis=True, ylabel=""
    )


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

    def __init__(self, first: Any, label: str) -> None:
        from bokeh.document import Document

        from forecast_panel.views.meteogram import Meteogram

        self.label = label
        self.document = Document()
        self.meteogram = Meteogram()
        self.meteogram.update(first, bands=False, time_label=label)
        self.document.add_root(self.meteogram.layout)

    def redraw(self, frames: Any) -> None:
        self.meteogram.update(frames, bands=False, time_label=self.label)


class HoloViewsPath:
    """The HoloViews equivalent, rendered once and updated through a Pipe."""

    def __init__(self, first: Any, panel_ids: list[str]) -> None:
        import holoviews as hv
        from bokeh.document import Document

        self.pipe = hv.streams.Pipe(data=first)
        panels = [
            hv.DynamicMap(lambda data, key=key: holoviews_panel(data, key), streams=[self.pipe]) for key in panel_ids
        ]
        strip = hv.DynamicMap(holoviews_strip, streams=[self.pipe])
        self.document = Document()
        plot = hv.renderer("bokeh").get_plot(hv.Layout([*panels, strip]).cols(1), doc=self.document)
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


def _boxes(frames: Any) -> int:
    return sum(len(panel.steps.columns["xc"]) + len(panel.days.columns["xc"]) for panel in frames.panels)


def run(store: str, count: int) -> dict[str, Any]:
    from forecast_panel.app import load_extensions
    from forecast_panel.data import DataStore
    from forecast_panel.selection import PANELS
    from forecast_panel.state import OverviewState

    load_extensions()
    state = OverviewState(DataStore(store, manifest_ttl_seconds=3600))
    state.selection.extras = ["members", "previous"]
    series = []
    for change in scripted_changes(state.selection, count):
        state.selection.param.update(**change)
        state.refresh_options()  # as the view does after a change
        series.append(state.frames())
    first = state.frames()
    label = f"local time ({first.zone})"
    results = {
        "bokeh": measure(lambda: BokehPath(first, label), series),
        "holoviews": measure(lambda: HoloViewsPath(first, list(PANELS)), series),
    }
    ratio = results["holoviews"]["redraw"]["p50_ms"] / max(results["bokeh"]["redraw"]["p50_ms"], 1e-9)
    return {
        "benchmark": "meteogram_bokeh_vs_holoviews",
        "store": store,
        "changes": count,
        "panels": len(first.panels),
        "boxes_p50": int(statistics.median(_boxes(frames) for frames in series)),
        "member_segments_p50": int(statistics.median(sum(len(p.members["x0"]) for p in f.panels) for f in series)),
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
