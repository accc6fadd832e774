"""Pure overview transforms on small hand-made frames (forecast_panel.frames)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast_panel import frames as fr


def _summary(medians: list[float]) -> pd.DataFrame:
    times = pd.date_range("2026-11-25T00:00", periods=len(medians), freq="6h", tz="UTC")
    median = np.array(medians, dtype="float32")
    return pd.DataFrame(
        {
            "valid_time": times,
            "lead_hours": np.arange(len(medians), dtype="float64") * 6,
            "min": median - 3,
            "q10": median - 2,
            "q25": median - 1,
            "median": median,
            "q75": median + 1,
            "q90": median + 2,
            "max": median + 3,
            "member_count": np.full(len(medians), 31, dtype="int16"),
        }
    )


def test_boxes_of_two_sources_are_one_frame_dodged_apart() -> None:
    sources = [
        fr.SourceFrame("a", "A", "#111111", _summary([1.0, 2.0, np.nan, 4.0])),
        fr.SourceFrame("b", "B", "#222222", _summary([5.0, 6.0, 7.0, 8.0])),
    ]
    whiskers, outer, inner, medians = fr.box_frames(sources, bands=False)
    assert list(inner.columns) == fr.BOX_COLUMNS and list(whiskers.columns) == fr.SEGMENT_COLUMNS
    assert inner.groupby("source").size().to_dict() == {"A": 3, "B": 4}, "a missing median is no box, never 0"
    first = inner.groupby("source")["x0"].min()
    assert first["A"] < first["B"], "the first source sits left of the second at the same valid time"
    assert (inner["y0"] == inner["q25"]).all() and (inner["y1"] == inner["q75"]).all()
    assert (outer["x1"] - outer["x0"] < inner["x1"] - inner["x0"]).all(), "q10–q90 box narrower than q25–q75"
    assert str(inner["x0"].dtype) == "datetime64[ns]" and set(medians["color"]) == {"#111111", "#222222"}


def test_previous_init_line_leaves_a_gap_where_the_median_is_missing() -> None:
    previous = _summary([1.0, 2.0, np.nan, 4.0, 5.0])
    source = fr.SourceFrame("a", "A", "#111111", _summary([1.0] * 5), previous=previous)
    segments = fr.previous_segments([source])
    assert len(segments) == 2, "segments 0–1 and 3–4 only: nothing is drawn through the gap"
    assert set(segments["source"]) == {"A (previous init)"}
    assert fr.previous_segments([fr.SourceFrame("a", "A", "#111111", _summary([1.0]))]).empty
