"""The overview's Bokeh figures: ECMWF-style boxes from precomputed statistics, render only.

One figure per session with fixed glyphs (``vstrip`` for not-ingested leads, ``quad`` for the
q10–q90 and q25–q75 boxes or bands, ``segment`` for whiskers, medians, member traces and the
previous init's median). ``update`` replaces the glyphs' ColumnDataSource data and a few
labels, so a selection change is a data update, never a rebuilt figure. The exceedance figure
shares the time axis. The toolbar's save tool exports a PNG.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from bokeh.models import ColumnDataSource, HoverTool, LinearColorMapper, Range1d
from bokeh.plotting import figure

from forecast_panel import frames as fr

STAT_TOOLTIP = [
    ("source", "@source"),
    ("valid", "@valid{%a %d %b %H:%M} UTC"),
]
STATS = ("max", "q90", "q75", "median", "q25", "q10", "min")


SEG = ["x0", "y0", "x1", "y1", "k"]
COLUMNS = {
    "missing": ["x0", "x1"],
    "members": SEG,
    "outer": SEG,
    "whiskers": SEG,
    "inner": [*SEG, "source", "valid", *STATS, "members"],
    "medians": SEG,
    "previous": SEG,
    "exceedance": [*SEG, "source", "valid", "probability"],
}
_TIME_COLUMNS = {"x0", "x1", "valid"}


def _data(frame: pd.DataFrame, columns: list[str], palette: list[str]) -> dict[str, Any]:
    """Compact ColumnDataSource data: times as datetime64, values as float32, and the colour as
    an index ``k`` into ``palette`` (so no per-row strings but the hover's source name)."""
    data: dict[str, Any] = {}
    for name in columns:
        if name == "k":
            colors = frame["color"].to_numpy() if "color" in frame else np.array([])
            data[name] = np.array([palette.index(color) for color in colors], dtype="float32")
        elif name not in frame:
            data[name] = np.array([], dtype="float32")
        elif name in _TIME_COLUMNS:
            data[name] = frame[name].to_numpy(dtype="datetime64[ns]")
        elif name == "source":
            data[name] = frame[name].to_numpy()
        else:
            data[name] = frame[name].to_numpy(dtype="float32")
    return data


def _figure(height: int, **options: Any) -> Any:
    settings: dict[str, Any] = {
        "x_axis_type": "datetime",
        "height": height,
        "sizing_mode": "stretch_width",
        "tools": "pan,xwheel_zoom,box_zoom,reset,save",
        "active_drag": "pan",
        "toolbar_location": "above",
        **options,
    }
    plot = figure(**settings)
    plot.xaxis.axis_label = "valid time (UTC)"
    plot.toolbar.logo = None
    return plot


class Meteogram:
    """The main figure and the exceedance figure of one session."""

    def __init__(self) -> None:
        self.colors = LinearColorMapper(palette=["#1f77b4"], low=-0.5, high=0.5)
        self.sources = {name: ColumnDataSource(_data(fr.empty([]), columns, [])) for name, columns in COLUMNS.items()}
        color = {"field": "k", "transform": self.colors}
        sources = self.sources
        self.main = _figure(400, min_width=280, css_classes=["fp-main-plot"])
        main = self.main
        main.vstrip(x0="x0", x1="x1", source=sources["missing"], fill_color="#bbbbbb", fill_alpha=0.35, line_alpha=0)
        main.segment("x0", "y0", "x1", "y1", source=sources["members"], line_color=color, line_alpha=0.25)
        self.outer = main.quad(
            left="x0",
            right="x1",
            bottom="y0",
            top="y1",
            source=sources["outer"],
            fill_color=color,
            line_color=color,
        )
        main.segment("x0", "y0", "x1", "y1", source=sources["whiskers"], line_color=color, line_width=1.5)
        self.inner = main.quad(
            left="x0",
            right="x1",
            bottom="y0",
            top="y1",
            source=sources["inner"],
            fill_color=color,
            line_color=color,
        )
        self.median = main.segment("x0", "y0", "x1", "y1", source=sources["medians"], line_color="black", line_width=2)
        main.segment(
            "x0", "y0", "x1", "y1", source=sources["previous"], line_color=color, line_dash="dashed", line_width=2
        )
        self.hover = HoverTool(renderers=[self.inner], formatters={"@valid": "datetime"})
        main.add_tools(self.hover)
        self.exceedance = _figure(
            230,
            x_range=main.x_range,
            y_range=Range1d(start=0, end=100),
            min_width=280,
            css_classes=["fp-exceedance-plot"],
        )
        self.exceedance.yaxis.axis_label = "%"
        self.exceedance.vstrip(
            x0="x0", x1="x1", source=sources["missing"], fill_color="#bbbbbb", fill_alpha=0.35, line_alpha=0
        )
        bars = self.exceedance.quad(
            left="x0", right="x1", bottom="y0", top="y1", source=sources["exceedance"], fill_color=color, line_alpha=0
        )
        self.exceedance_hover = HoverTool(renderers=[bars], formatters={"@valid": "datetime"})
        self.exceedance.add_tools(self.exceedance_hover)

    def update(self, frames: fr.OverviewFrames, *, title: str, unit: str, bands: bool, threshold: str) -> None:
        """Push new data and labels into the existing glyphs."""
        by_name = {
            "missing": frames.missing,
            "members": frames.members,
            "outer": frames.outer,
            "whiskers": frames.whiskers,
            "inner": frames.inner,
            "medians": frames.medians,
            "previous": frames.previous,
            "exceedance": frames.exceedance,
        }
        palette = list(
            dict.fromkeys(color for frame in by_name.values() if "color" in frame for color in frame["color"])
        )
        palette = palette or ["#1f77b4"]
        self.colors.update(palette=palette, low=-0.5, high=len(palette) - 0.5)
        for name, frame in by_name.items():
            self.sources[name].data = _data(frame, COLUMNS[name], palette)
        self.main.title.text = title
        self.main.yaxis.axis_label = unit
        self.outer.glyph.fill_alpha = 0.18 if bands else 0.35
        self.inner.glyph.fill_alpha = 0.35 if bands else 0.75
        self.outer.glyph.line_alpha = self.inner.glyph.line_alpha = 0.0 if bands else 1.0
        self.median.glyph.line_color = {"field": "k", "transform": self.colors} if bands else "black"
        tooltips = [*STAT_TOOLTIP, *((name, f"@{{{name}}}{{0.0}} {unit}") for name in STATS), ("members", "@members")]
        self.hover.tooltips = tooltips
        self.exceedance.title.text = f"Probability of exceeding {threshold} {unit}"
        self.exceedance_hover.tooltips = [*STAT_TOOLTIP, (f"P(> {threshold} {unit})", "@probability{0} %")]
