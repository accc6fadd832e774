"""Daily boxes from member series (forecast_panel.daily), checked against plain numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast_panel.daily import MemberMatrix, daily_statistics, daily_summary, daily_values

INIT = pd.Timestamp("2026-11-24T00:00", tz="UTC")
RNG = np.random.default_rng(3)


def _members(lead_hours: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """points.parquet-like rows, sorted by (lead, member); ``values`` is ``(lead, member)``."""
    leads, members = np.meshgrid(lead_hours, np.arange(values.shape[1]), indexing="ij")
    return pd.DataFrame(
        {
            "init_time": INIT,
            "valid_time": INIT + pd.to_timedelta(leads.reshape(-1), unit="h"),
            "lead_hours": leads.reshape(-1).astype("float64"),
            "ensemble_member": members.reshape(-1).astype("int16"),
            "value": values.reshape(-1),
        }
    )


def test_statistics_per_kind() -> None:
    assert daily_statistics("per_step", running_total=False) == ("sum",)
    assert daily_statistics("per_step", running_total=True) == ("last",)
    assert daily_statistics("instant", running_total=False) == ("max", "min")


def test_daily_sums_cover_whole_days_and_skip_incomplete_members() -> None:
    leads = np.arange(0, 60 + 1, 3)  # 3-hourly to 60 h: days 1 and 2 complete, day 3 only 12 h
    amounts = RNG.gamma(0.5, 1.0, size=(leads.size, 4))
    amounts[0] = np.nan  # no step ends at lead 0
    amounts[10, 3] = np.nan  # member 3 misses a step on day 2 (lead 30 h)
    summary = daily_summary(_members(leads, amounts), "sum")
    assert summary["valid_time"].tolist() == [INIT + pd.Timedelta(hours=12), INIT + pd.Timedelta(hours=36)]
    day1 = amounts[1:9].sum(axis=0)  # steps ending 03 … 24 h
    day2 = amounts[9:17, :3].sum(axis=0)  # steps ending 27 … 48 h, member 3 left out
    for row, expected in zip(summary.itertuples(), (day1, day2), strict=True):
        assert row.member_count == expected.size
        assert row.min == pytest.approx(expected.min()) and row.max == pytest.approx(expected.max())
        assert row.median == pytest.approx(np.quantile(expected, 0.5))
        assert row.q10 == pytest.approx(np.quantile(expected, 0.1))
        assert row.q90 == pytest.approx(np.quantile(expected, 0.9))


def test_six_hourly_steps_count_by_their_length() -> None:
    leads = np.concatenate([np.arange(0, 24, 3), np.arange(24, 72 + 1, 6)])  # 3-hourly, then 6-hourly
    amounts = np.ones((leads.size, 2))
    amounts[0] = np.nan
    summary = daily_summary(_members(leads, amounts), "sum")
    assert summary["median"].tolist() == [8.0, 4.0, 4.0]  # eight 3-h steps, then four 6-h steps


def test_daily_max_and_min_need_the_synoptic_hours() -> None:
    leads = np.arange(0, 42 + 1, 6)  # day 1 complete (00–18 UTC), day 2 has 00–18 too; 42 h is day 2's 18 UTC
    temperature = RNG.normal(size=(leads.size, 3))
    high, low = daily_summary(_members(leads, temperature), "max"), daily_summary(_members(leads, temperature), "min")
    assert len(high) == len(low) == 2
    assert high["max"].iloc[0] == pytest.approx(temperature[0:4].max())
    assert low["min"].iloc[1] == pytest.approx(temperature[4:8].min())
    short = daily_summary(_members(np.arange(0, 12 + 1, 6), temperature[:3]), "max")
    assert short.empty, "a day without 18 UTC is not a whole day"


def test_running_total_is_read_at_the_end_of_each_day() -> None:
    leads = np.arange(0, 48 + 1, 6)
    totals = np.cumsum(np.ones((leads.size, 2)), axis=0) - 1  # 0 at lead 0
    summary = daily_summary(_members(leads, totals), "last")
    assert summary["median"].tolist() == [4.0, 8.0]  # at 24 h and 48 h; no box for the day before init


def test_no_members_no_boxes() -> None:
    leads = np.arange(0, 48 + 1, 6)
    assert daily_summary(_members(leads, np.full((leads.size, 2), np.nan)), "sum").empty
    assert daily_summary(pd.DataFrame(columns=["value"]), "max").empty


def test_days_follow_the_points_local_calendar() -> None:
    """Denver (UTC−7 in November): a local day runs 07 UTC → 07 UTC; 3-hourly steps end at 09 … 06."""
    leads = np.arange(0, 72 + 1, 3)
    amounts = RNG.gamma(0.5, 1.0, size=(leads.size, 3))
    amounts[0] = np.nan
    summary = daily_summary(_members(leads, amounts), "sum", zone="America/Denver")
    ends = INIT + pd.to_timedelta(leads, unit="h")
    local_day = (ends - pd.Timedelta(microseconds=1)).tz_convert("America/Denver").date
    frame = pd.DataFrame(amounts[1:], index=local_day[1:]).groupby(level=0).sum()
    counts = pd.Series(np.diff(leads), index=local_day[1:]).groupby(level=0).sum()
    whole = counts[counts == 24].index
    assert [pd.Timestamp(day) for day in whole] == [
        pd.Timestamp(stamp.tz_convert("America/Denver").date()) for stamp in summary["valid_time"]
    ]
    for row, day in zip(summary.itertuples(), whole, strict=True):
        assert row.median == pytest.approx(np.quantile(frame.loc[day].to_numpy(), 0.5))
        assert row.valid_time == pd.Timestamp(day).tz_localize("America/Denver").tz_convert("UTC") + pd.Timedelta(
            hours=12
        )


def test_a_daylight_saving_day_is_25_hours_long() -> None:
    """Europe/Berlin leaves summer time on 2026-10-25: that local day has 25 hours of steps."""
    init = pd.Timestamp("2026-10-24T00:00", tz="UTC")
    leads = np.arange(0, 96 + 1, 1.0)
    frame = _members(leads, np.ones((leads.size, 2)))
    frame["valid_time"] = init + pd.to_timedelta(frame["lead_hours"], unit="h")
    summary = daily_summary(frame, "sum", zone="Europe/Berlin")
    days = summary["valid_time"].dt.tz_convert("Europe/Berlin").dt.date.astype(str)
    by_day = dict(zip(days, summary["median"], strict=True))
    assert by_day["2026-10-25"] == 25.0 and by_day["2026-10-26"] == 24.0


def test_daily_values_of_a_shared_matrix_are_computed_once_and_read_only() -> None:
    frame = _members(np.arange(0.0, 73.0, 3.0), RNG.normal(size=(25, 5)))
    columns = {name: frame[name].to_numpy() for name in frame.columns}
    columns["value"].flags.writeable = False  # as the cached columns every session shares
    shared = MemberMatrix.of(columns)
    assert MemberMatrix.of(columns) is shared
    first = daily_values(shared, "max", "America/Denver")
    assert daily_values(shared, "max", "America/Denver") is first, "computed once per process"
    assert daily_values(shared, "min", "America/Denver") is not first
    assert daily_values(shared, "max", "UTC") is not first
    assert not first.values.flags.writeable and not first.stats["median"].flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        first.values[0, 0] = 0.0
    private = MemberMatrix.of(frame)  # a frame of its own: nothing shared, a new result each call
    again = daily_values(private, "max", "America/Denver")
    assert again is not daily_values(private, "max", "America/Denver") and again.values.flags.writeable
    np.testing.assert_array_equal(again.values, first.values)
