"""Pure meteogram transforms on small hand-made tables (forecast_panel.frames, .timing)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast_panel import frames as fr
from forecast_panel.daily import DailyValues, box_statistics
from forecast_panel.timing import split_time

START = np.datetime64("2026-11-25T00:00", "ns")


def _summary(medians: list[float], step_hours: int = 6) -> fr.Table:
    median = np.array(medians, dtype="float64")
    leads = np.arange(len(medians), dtype="float64") * step_hours
    stats = {"min": median - 3, "q10": median - 2, "q25": median - 1, "median": median}
    stats |= {"q75": median + 1, "q90": median + 2, "max": median + 3}
    return {
        "valid_time": START + (leads * 3600e9).astype("timedelta64[ns]"),
        "lead_hours": leads,
        **stats,
        "member_count": np.full(len(medians), 31.0),
    }


def test_step_boxes_of_two_sources_are_dodged_apart_and_a_missing_median_is_no_box() -> None:
    series = [
        fr.SourceSeries("a", "A", "#111111", _summary([1.0, 2.0, np.nan, 4.0])),
        fr.SourceSeries("b", "B", "#222222", _summary([5.0, 6.0, 7.0, 8.0])),
    ]
    boxes = fr.step_boxes(series, "UTC", None)
    columns = boxes.columns
    assert set(columns) == set(fr.BOX_COLUMNS)
    assert np.bincount(columns["k"]).tolist() == [3, 4], "a missing median is no box, never 0"
    first = {code: columns["xc"][columns["k"] == code].min() for code in (0, 1)}
    assert first[0] < START < first[1], "the sources sit either side of the valid time"
    assert (columns["t"][columns["k"] == 1] == _summary([0.0] * 4)["valid_time"]).all()
    assert 0 < boxes.narrow_ms < boxes.wide_ms, "q10–q90 box narrower than q25–q75"


def test_local_wall_times_shift_the_boxes() -> None:
    series = [fr.SourceSeries("a", "A", "#111111", _summary([1.0, 2.0]))]
    utc = fr.step_boxes(series, "UTC", None).columns["t"]
    denver = fr.step_boxes(series, "America/Denver", None).columns["t"]
    assert ((utc - denver) == np.timedelta64(7, "h")).all(), "MST is UTC−7 in November"


def test_previous_init_line_leaves_a_gap_where_the_median_is_missing() -> None:
    previous = _summary([1.0, 2.0, np.nan, 4.0, 5.0])
    source = fr.SourceSeries("a", "A", "#111111", _summary([1.0] * 5), previous=previous)
    segments = fr.median_segments([source], "UTC", previous=True)
    assert len(segments["x0"]) == 2, "segments 0–1 and 3–4 only: nothing is drawn through the gap"
    assert (
        len(fr.median_segments([fr.SourceSeries("a", "A", "#111111", _summary([1.0]))], "UTC", previous=True)["x0"])
        == 0
    )


def test_strip_rows_are_grouped_under_a_heading_per_variable() -> None:
    values = np.array([[0.0, 2.0, 6.0, np.nan], [1.0, 1.0, 1.0, 1.0]])
    daily = DailyValues(
        np.array(["2026-11-25", "2026-11-26"], dtype="datetime64[D]"),
        np.array(["2026-11-25T12", "2026-11-26T12"], dtype="datetime64[ns]"),
        values,
        box_statistics(values),
    )
    rows = [fr.StripRow("Precipitation > 1 mm|GEFS", daily, 1.0), fr.StripRow("Precipitation > 1 mm|ENS", daily, 1.0)]
    rows.append(fr.StripRow("Wind > 10 m/s|GEFS", daily, 10.0))
    axis = fr.strip_axis(rows)
    assert axis.headings == [(0.0, "Precipitation > 1 mm"), (3.0, "Wind > 10 m/s")]
    assert axis.ticks == {1: "GEFS", 2: "ENS", 4: "GEFS"} and axis.rows == 5
    cells = fr.strip_columns(rows, "UTC")
    first = cells["p"][cells["y"] == 1]
    np.testing.assert_allclose(first, [200 / 3, 0.0]), "2 of 3 members with a value exceed 1 mm; none equal to it"


def test_auto_boxes_are_daily_on_narrow_screens_and_where_steps_get_thin() -> None:
    short = [fr.SourceSeries("a", "A", "#111111", _summary([1.0] * 41, step_hours=6))]  # 10 days
    assert split_time(short, "UTC", "auto", 1280) is None, "40 six-hourly boxes fit a desktop"
    assert split_time(short, "UTC", "auto", 390) == START, "a phone gets daily boxes throughout"
    assert split_time(short, "UTC", "steps", 390) is None and split_time(short, "UTC", "daily", 1280) == START
    long = [fr.SourceSeries("a", "A", "#111111", _summary([1.0] * 281, step_hours=3))]  # 35 days of 3-hourly
    assert split_time(long, "UTC", "auto", 1280) == START, "3-hourly boxes over 35 days are thinner than 4 px"


def test_short_names_of_sources() -> None:
    assert fr.short_name("NOAA GEFS (35-day) — sample") == "GEFS"
    assert fr.short_name("ECMWF IFS ENS (15-day)") == "ENS"
    assert fr.short_name("my model") == "my"
    assert pd.isna(np.nan)
