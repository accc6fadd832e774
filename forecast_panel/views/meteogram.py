"""The meteogram's Bokeh figures: stacked panels on one time axis, render only.

One figure per panel of ``PANELS`` (hidden when not selected), all sharing one x range, and a
probability strip under them. Each panel has fixed glyphs fed by ColumnDataSources: per-step and
daily boxes (``quad`` q10–q90 and q25–q75 placed by ``Dodge`` transforms of the box centre,
``segment`` whiskers and median ticks), member traces, the previous init's median, band medians,
and on the precipitation panel the snowfall medians (markers). ``update`` only replaces data and
labels, so a change is a data update, never a rebuilt figure.

One hover line reads every panel: a ``CrosshairTool`` per figure shares one ``Span`` (data
units), and a mouse move or tap in any figure writes every panel's values at that time into a
readout above the panels (in the browser only: the span and the readout are not synced back to
the server, so hovering costs no traffic). The data ranges, which BokehJS computes after each
redraw and on every pan or zoom, stay in the browser too: the server never reads them, and
syncing them back sent three messages to the server after every redraw.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
from bokeh.layouts import column
from bokeh.models import (
    ColumnDataSource,
    CrosshairTool,
    CustomJS,
    DataRange1d,
    Dodge,
    FixedTicker,
    HoverTool,
    LinearColorMapper,
    Range1d,
    TapTool,
)
from bokeh.models.annotations import Label, Span
from bokeh.models.widgets import Div
from bokeh.palettes import Blues9
from bokeh.plotting import figure

from forecast_panel import frames as fr
from forecast_panel.selection import PANELS

READOUT_JS = (Path(__file__).parent / "readout.js").read_text()
HEAT = list(reversed(Blues9))  # light → dark: one hue, readable in every colour vision
DAY_MS = 86_400_000.0
HINT = "<i>Point at or tap the panels: every panel and source at that time is read out here.</i>"
HEIGHTS = {"temperature": 210, "precipitation": 170, "wind": 170}


def same_data(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether two ColumnDataSource data hold equal columns (same names, dtypes and values;
    NaN equals NaN), so that an unchanged source is not sent again."""
    if old.keys() != new.keys():
        return False
    for name, values in new.items():
        before = np.asarray(old[name])
        if before.dtype != values.dtype or before.shape != values.shape:
            return False
        if not np.array_equal(before, values, equal_nan=values.dtype.kind in "fc"):
            return False
    return True


def _source(data: dict[str, Any]) -> ColumnDataSource:
    return ColumnDataSource(data=dict(data))


def _set(source: ColumnDataSource, data: dict[str, Any]) -> None:
    if not same_data(source.data, data):  # each new data is a message of its own
        source.data = data


def _figure(height: int, x_range: Any, **options: Any) -> Any:
    settings: dict[str, Any] = {
        "x_axis_type": "datetime",
        "x_range": x_range,
        "height": height,
        "sizing_mode": "stretch_width",
        "min_width": 260,
        "tools": "xpan,xwheel_zoom,reset,save",
        "active_drag": "xpan",
        "toolbar_location": None,
        **options,
    }
    plot: Any = figure(**settings)
    plot.toolbar.logo = None
    plot.xaxis.major_label_text_font_size = "11px"
    plot.yaxis.major_label_text_font_size = "11px"
    plot.title.text_font_size = "13px"
    plot.min_border_left = 52
    return plot


class BoxGlyphs:
    """One set of boxes (per step or daily) on a figure: one data source, four glyphs."""

    def __init__(self, plot: Any, color: dict[str, Any], name: str) -> None:
        self.source = _source(fr.empty_columns(fr.BOX_COLUMNS))
        self.source.name = f"fp-{name}"
        self.offsets = {name: Dodge(value=0.0) for name in ("wide_l", "wide_r", "narrow_l", "narrow_r")}

        def edge(name: str) -> dict[str, Any]:
            return {"field": "xc", "transform": self.offsets[name]}

        source = self.source
        self.whiskers = plot.segment("xc", "min", "xc", "max", source=source, line_color=color, line_width=1.5)

        def box(side: str, bottom: str, top: str, alpha: float) -> Any:
            return plot.quad(left=edge(f"{side}_l"), right=edge(f"{side}_r"), bottom=bottom, top=top, source=source,
                             fill_color=color, line_color=color, fill_alpha=alpha)  # fmt: skip

        self.outer = box("narrow", "q10", "q90", 0.35)
        self.inner = box("wide", "q25", "q75", 0.8)
        self.ticks = plot.segment(
            edge("wide_l"), "median", edge("wide_r"), "median", source=source, line_color="black", line_width=2
        )

    def update(self, boxes: fr.BoxSet, *, bands: bool) -> None:
        for side, value in (("wide", boxes.wide_ms), ("narrow", boxes.narrow_ms)):
            self.offsets[f"{side}_l"].value, self.offsets[f"{side}_r"].value = -value, value
        _set(self.source, boxes.columns)
        self.whiskers.visible = self.ticks.visible = not bands
        self.outer.glyph.fill_alpha = 0.18 if bands else 0.35
        self.inner.glyph.fill_alpha = 0.35 if bands else 0.8
        self.outer.glyph.line_alpha = self.inner.glyph.line_alpha = 0.0 if bands else 1.0


class PanelFigure:
    """One panel's figure and its glyphs."""

    def __init__(self, panel_id: str, x_range: Any, color: dict[str, Any], missing: ColumnDataSource) -> None:
        self.panel_id = panel_id
        y_range = DataRange1d(syncable=False)  # computed in the browser, kept there
        if panel_id in ("precipitation", "wind"):
            y_range.start = 0
        self.plot = _figure(HEIGHTS.get(panel_id, 190), x_range, y_range=y_range, css_classes=[f"fp-panel-{panel_id}"])
        plot = self.plot
        plot.vstrip(x0="x0", x1="x1", source=missing, fill_color="#bbbbbb", fill_alpha=0.35, line_alpha=0)
        self.members = _source(fr.empty_columns(fr.SEGMENT_COLUMNS))
        plot.segment("x0", "y0", "x1", "y1", source=self.members, line_color=color, line_alpha=0.25)
        self.steps = BoxGlyphs(plot, color, f"{panel_id}-steps")
        self.days = BoxGlyphs(plot, color, f"{panel_id}-days")
        self.lines = _source(fr.empty_columns(fr.SEGMENT_COLUMNS))
        plot.segment("x0", "y0", "x1", "y1", source=self.lines, line_color=color, line_width=2)
        self.previous = _source(fr.empty_columns(fr.SEGMENT_COLUMNS))
        plot.segment("x0", "y0", "x1", "y1", source=self.previous, line_color=color, line_dash="dashed", line_width=2)
        self.overlay = _source(fr.empty_columns(fr.MARKER_COLUMNS))
        plot.scatter("x", "y", source=self.overlay, marker="asterisk", size=9, line_color="#222222", line_width=1.5)

    def update(self, panel: fr.PanelFrames, *, bands: bool, time_label: str) -> None:
        self.steps.update(panel.steps, bands=bands)
        self.days.update(panel.days, bands=bands)
        for source, data in (
            (self.members, panel.members),
            (self.lines, panel.lines),
            (self.previous, panel.previous),
            (self.overlay, panel.overlay),
        ):
            _set(source, data)
        title = f"{panel.title} ({panel.unit})"
        if panel.overlay_label:
            title += f" · ✱ {panel.overlay_label.split(' (')[0].lower()}"
        self.plot.title.text = title
        self.plot.yaxis.axis_label = panel.unit
        self.plot.xaxis.axis_label = time_label


class Meteogram:
    """The stacked panels, the probability strip and the hover readout of one session."""

    def __init__(self) -> None:
        self.colors = LinearColorMapper(palette=["#0072b2"], low=-0.5, high=0.5)
        color = {"field": "k", "transform": self.colors}
        self.x_range = DataRange1d(range_padding=0.01, syncable=False)  # computed in the browser, kept there
        self.missing = _source(fr.empty_columns(fr.SPAN_COLUMNS))
        self.panels = {key: PanelFigure(key, self.x_range, color, self.missing) for key in PANELS}
        # the axis spans the boxes, not the shaded not-ingested leads (the notes name those)
        self.x_range.renderers = [
            glyph
            for item in self.panels.values()
            for boxes in (item.steps, item.days)
            for glyph in (boxes.whiskers, boxes.outer)
        ]
        self.strip_source = _source(fr.empty_columns(fr.STRIP_COLUMNS))
        self.strip_source.name = "fp-strip"
        self.strip = self._strip()
        self.legend = ColumnDataSource({"label": [], "color": []})
        self.meta = ColumnDataSource({"title": [], "unit": [], "words": []})
        self.rows = ColumnDataSource({"label": []}, name="fp-strip-rows")
        self.readout = Div(
            text=HINT,
            syncable=False,
            css_classes=["fp-readout"],
            sizing_mode="stretch_width",
            height=118,
            styles={"overflow-y": "auto", "font-size": "12px", "line-height": "1.45"},
        )
        span = Span(
            dimension="height",
            location_units="data",
            line_color="#444444",
            line_dash="dashed",
            line_width=1,
            syncable=False,
        )
        figures = [*(item.plot for item in self.panels.values()), self.strip]
        readout = CustomJS(
            args={
                "readout": self.readout,
                "span": span,
                "legend": self.legend,
                "meta": self.meta,
                "rows": self.rows,
                "strip": self.strip_source,
                "steps": [item.steps.source for item in self.panels.values()],
                "days": [item.days.source for item in self.panels.values()],
                "shown": [item.plot for item in self.panels.values()],
            },
            code=READOUT_JS,
        )
        for plot in figures:
            plot.add_tools(CrosshairTool(overlay=span, description="Hover line"))
            plot.js_on_event("mousemove", readout)
            plot.js_on_event("tap", readout)
        top = next(iter(self.panels.values())).plot
        top.toolbar_location = "above"
        self.layout = column(self.readout, *figures, sizing_mode="stretch_width", css_classes=["fp-meteogram"])

    def _strip(self) -> Any:
        plot = _figure(60, self.x_range, y_range=Range1d(start=-0.5, end=0.5), css_classes=["fp-strip"])
        plot.min_border_left = 52
        heat = LinearColorMapper(palette=HEAT, low=0, high=100, nan_color="#eeeeee")
        ink = LinearColorMapper(palette=["#111111"] * 5 + ["#ffffff"] * 4, low=0, high=100)
        source = self.strip_source
        cells = plot.rect(
            "x",
            "y",
            width=DAY_MS * 0.96,
            height=0.92,
            source=source,
            fill_color={"field": "p", "transform": heat},
            line_alpha=0,
        )
        plot.text(
            "x",
            "y",
            text="label",
            source=source,
            text_align="center",
            text_baseline="middle",
            text_font_size="10px",
            text_color={"field": "p", "transform": ink},
        )
        # a tapped cell proposes an alert (the overview listens to the selection)
        cells.selection_glyph = cells.glyph.clone(line_color="#e69f00", line_alpha=1.0, line_width=3)
        cells.nonselection_glyph = cells.glyph.clone()
        plot.add_tools(TapTool(renderers=[cells], description="Tap a day to start an alert"))
        plot.add_tools(
            HoverTool(
                renderers=[cells],
                tooltips=[("day", "@x{%a %d %b}"), ("probability", "@p{0} %")],
                formatters={"@x": "datetime"},
            )
        )
        plot.yaxis.ticker = FixedTicker(ticks=[])
        plot.ygrid.visible = False
        self.headings = [
            Label(
                x=4,
                x_units="screen",
                y=0,
                text="",
                text_font_size="11px",
                text_font_style="bold",
                text_baseline="middle",
                visible=False,
            )
            for _ in range(3)
        ]
        for heading in self.headings:
            plot.add_layout(heading)
        plot.title.text = "Probability of exceeding (%, per day) · tap a day to start an alert"
        return plot

    def _strip_rows(self, axis: fr.StripAxis) -> None:
        ticks, headings, count = axis.ticks, axis.headings, max(axis.rows, 1)
        self.strip.height = 40 + 17 * count
        self.strip.y_range.update(start=count - 0.5, end=-0.5)
        self.strip.yaxis.ticker.ticks = sorted(ticks)
        self.strip.yaxis.major_label_overrides = ticks
        for index, heading in enumerate(self.headings):
            heading.visible = index < len(headings)
            if index < len(headings):
                heading.y, heading.text = headings[index]

    def update(self, frames: fr.MeteogramFrames, *, bands: bool, time_label: str) -> None:
        """Push new data and labels into the existing glyphs."""
        palette = [color for _, color in frames.legend] or ["#0072b2"]
        self.colors.update(palette=palette, low=-0.5, high=len(palette) - 0.5)
        _set(self.missing, frames.missing)
        shown = {panel.panel_id: panel for panel in frames.panels}
        for key, item in self.panels.items():
            item.plot.visible = key in shown
            if key in shown:
                item.update(shown[key], bands=bands, time_label="")
        visible = [item.plot for key, item in self.panels.items() if key in shown]
        for index, plot in enumerate(visible):
            plot.toolbar_location = "above" if index == 0 else None
        rows = frames.strip_axis.rows
        self.strip.visible = rows > 0
        (visible[-1] if visible and not rows else self.strip).xaxis.axis_label = time_label
        self._strip_rows(frames.strip_axis)
        _set(self.strip_source, frames.strip)
        _set(self.legend, {"label": _texts(label for label, _ in frames.legend), "color": _texts(palette)})
        _set(
            self.meta,
            {
                "title": _texts(panel.title for panel in frames.panels),
                "unit": _texts(panel.unit for panel in frames.panels),
                "words": _texts("/".join(WORDS_OF.get(panel.panel_id, ())) for panel in frames.panels),
            },
        )
        labels = [""] * frames.strip_axis.rows
        for y, label in frames.strip_axis.labels.items():
            labels[y] = label
        _set(self.rows, {"label": _texts(labels)})


def _texts(values: Any) -> np.ndarray:
    """Escaped strings (the readout writes them as HTML) as an object array."""
    return np.array([html.escape(str(value)) for value in values], dtype=object)


WORDS_OF = {"temperature": ("high", "low"), "precipitation": ("total",), "wind": ("max",)}
