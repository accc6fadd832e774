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
from bokeh.models import ColumnDataSource, Dodge, HoverTool, LinearColorMapper, Range1d
from bokeh.plotting import figure

from forecast_panel import frames as fr

STAT_TOOLTIP = [
    ("source", "@source"),
    ("valid", "@valid{%a %d %b %H:%M} UTC"),
]
STATS = ("max", "q90", "q75", "median", "q25", "q10", "min")


SEG = ["x0", "y0", "x1", "y1", "k"]
# One row per box: the glyphs place their edges with Dodge transforms of the centre ``xc``, so
# the q10–q90 box, the q25–q75 box, the whisker and the median tick share one data source.
COLUMNS = {
    "missing": ["x0", "x1"],
    "members": SEG,
    "boxes": ["xc", "k", "source", "valid", *STATS, "members"],
    "medians": SEG,
    "previous": SEG,
    "exceedance": ["xc", "k", "source", "valid", "probability"],
}
_TIME_COLUMNS = {"x0", "x1", "valid", "xc"}


def _centred(frame: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """The frame with its centre time ``xc`` and the half width of its boxes in milliseconds."""
    if frame.empty:
        return frame.assign(xc=pd.Series(dtype="datetime64[ns]")), 0.0
    half = (frame["x1"] - frame["x0"]) / 2
    return frame.assign(xc=frame["x0"] + half), float(half.iloc[0] / pd.Timedelta(milliseconds=1))


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


def _same_data(old: dict[str, Any], new: dict[str, Any]) -> bool:
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
        # typed like every later update (datetime x, float32 y), so an empty update matches them
        self.sources = {
            name: ColumnDataSource(_data(fr.empty(columns), columns, [])) for name, columns in COLUMNS.items()
        }
        color = {"field": "k", "transform": self.colors}
        sources = self.sources
        self.offsets = {
            name: Dodge(value=0.0) for name in ("wide_l", "wide_r", "narrow_l", "narrow_r", "bar_l", "bar_r")
        }

        def edge(name: str) -> dict[str, Any]:
            return {"field": "xc", "transform": self.offsets[name]}

        self.main = _figure(400, min_width=280, css_classes=["fp-main-plot"])
        main = self.main
        main.vstrip(x0="x0", x1="x1", source=sources["missing"], fill_color="#bbbbbb", fill_alpha=0.35, line_alpha=0)
        main.segment("x0", "y0", "x1", "y1", source=sources["members"], line_color=color, line_alpha=0.25)
        boxes = sources["boxes"]
        self.outer = main.quad(
            left=edge("narrow_l"), right=edge("narrow_r"), bottom="q10", top="q90", source=boxes, fill_color=color,
            line_color=color,
        )  # fmt: skip
        self.whiskers = main.segment("xc", "min", "xc", "max", source=boxes, line_color=color, line_width=1.5)
        self.inner = main.quad(
            left=edge("wide_l"), right=edge("wide_r"), bottom="q25", top="q75", source=boxes, fill_color=color,
            line_color=color,
        )  # fmt: skip
        self.ticks = main.segment(
            edge("wide_l"), "median", edge("wide_r"), "median", source=boxes, line_color="black", line_width=2
        )
        self.median = main.segment("x0", "y0", "x1", "y1", source=sources["medians"], line_color=color, line_width=2)
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
            left=edge("bar_l"), right=edge("bar_r"), bottom=0, top="probability", source=sources["exceedance"],
            fill_color=color, line_alpha=0,
        )  # fmt: skip
        self.exceedance_hover = HoverTool(renderers=[bars], formatters={"@valid": "datetime"})
        self.exceedance.add_tools(self.exceedance_hover)

    def update(self, frames: fr.OverviewFrames, *, title: str, unit: str, bands: bool, threshold: str) -> None:
        """Push new data and labels into the existing glyphs."""
        boxes, wide = _centred(frames.inner)
        _, narrow = _centred(frames.outer)
        exceedance, bar = _centred(frames.exceedance)
        for name, value in (("wide", wide), ("narrow", narrow), ("bar", bar)):
            self.offsets[f"{name}_l"].value, self.offsets[f"{name}_r"].value = -value, value
        by_name = {
            "missing": frames.missing,
            "members": frames.members,
            "boxes": boxes,
            "medians": frames.medians,
            "previous": frames.previous,
            "exceedance": exceedance,
        }
        palette = list(
            dict.fromkeys(color for frame in by_name.values() if "color" in frame for color in frame["color"])
        )
        palette = palette or ["#1f77b4"]
        self.colors.update(palette=palette, low=-0.5, high=len(palette) - 0.5)
        for name, frame in by_name.items():
            data = _data(frame, COLUMNS[name], palette)
            if not _same_data(self.sources[name].data, data):  # each new data is a message of its own
                self.sources[name].data = data
        self.whiskers.visible = self.ticks.visible = not bands
        self.median.visible = bands
        self.main.title.text = title
        self.main.yaxis.axis_label = unit
        self.outer.glyph.fill_alpha = 0.18 if bands else 0.35
        self.inner.glyph.fill_alpha = 0.35 if bands else 0.75
        self.outer.glyph.line_alpha = self.inner.glyph.line_alpha = 0.0 if bands else 1.0
        tooltips = [*STAT_TOOLTIP, *((name, f"@{{{name}}}{{0.0}} {unit}") for name in STATS), ("members", "@members")]
        self.hover.tooltips = tooltips
        self.exceedance.title.text = f"Probability of exceeding {threshold} {unit}"
        self.exceedance_hover.tooltips = [*STAT_TOOLTIP, (f"P(> {threshold} {unit})", "@probability{0} %")]
