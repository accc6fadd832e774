"""The consensus (forecast_core.consensus) against independent computations: weighted quantiles
and probabilities equal numpy's on members replicated by integer weights."""

from __future__ import annotations

import numpy as np
import pytest

from forecast_core.consensus import MemberSeries, pool, probability, summary, weighted_quantiles

LEVELS = [0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 1.0]
HOUR = np.timedelta64(1, "h")
INIT = np.datetime64("2026-11-24T00:00", "ns")


def hours(*values: float) -> np.ndarray:
    return INIT + np.array([int(v) for v in values]) * HOUR


def replicated_quantiles(values: np.ndarray, counts: np.ndarray, levels: list[float]) -> np.ndarray:
    """The independent computation: each value repeated ``count`` times, numpy's inverted CDF."""
    keep = np.isfinite(values) & (counts > 0)
    sample = np.repeat(values[keep], counts[keep])
    return np.quantile(sample, levels, method="inverted_cdf")


@pytest.mark.parametrize("seed", range(40))
def test_weighted_quantiles_equal_numpy_on_replicated_members(seed: int) -> None:
    rng = np.random.default_rng(seed)
    members = int(rng.integers(1, 40))
    values = rng.choice(np.round(rng.normal(0, 5, 12), 1), size=(6, members))  # ties on purpose
    values[rng.random(values.shape) < 0.15] = np.nan
    counts = rng.integers(0, 7, size=(6, members))
    got = weighted_quantiles(values, counts.astype(float), LEVELS)
    for row in range(values.shape[0]):
        if not (np.isfinite(values[row]) & (counts[row] > 0)).any():
            assert np.isnan(got[row]).all()
            continue
        expected = replicated_quantiles(values[row], counts[row], LEVELS)
        np.testing.assert_array_equal(got[row], expected)


def test_weighted_quantiles_are_scale_invariant() -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(size=(20, 30))
    weights = rng.integers(1, 9, size=(20, 30)).astype(float)
    np.testing.assert_array_equal(
        weighted_quantiles(values, weights, LEVELS), weighted_quantiles(values, weights / 97.0, LEVELS)
    )


def two_sources(gefs_weight: float = 1.0, ifs_weight: float = 1.0, seed: int = 3) -> tuple[MemberSeries, MemberSeries]:
    """GEFS-like (31 members, 3-hourly to 240 h) and IFS-like (51 members, 3-hourly to 144 h then 6-hourly to 360 h)."""
    rng = np.random.default_rng(seed)
    gefs_hours = np.arange(0, 241, 3)
    ifs_hours = np.concatenate([np.arange(0, 144, 3), np.arange(144, 361, 6)])
    gefs = MemberSeries("gefs", INIT, hours(*gefs_hours), np.round(rng.normal(0, 4, (gefs_hours.size, 31)), 2),
                        gefs_weight)  # fmt: skip
    ifs = MemberSeries("ifs", INIT, hours(*ifs_hours), np.round(rng.normal(1, 3, (ifs_hours.size, 51)), 2), ifs_weight)
    return gefs, ifs


@pytest.mark.parametrize(("gefs_weight", "ifs_weight", "gefs_copies", "ifs_copies"), [(1, 1, 51, 31), (2, 1, 102, 31)])
def test_pooled_quantiles_equal_replicated_members(
    gefs_weight: float, ifs_weight: float, gefs_copies: int, ifs_copies: int
) -> None:
    """Equal weight per source: each GEFS member counts 51 times, each IFS member 31 times."""
    gefs, ifs = two_sources(gefs_weight, ifs_weight)
    pooled = pool([gefs, ifs], "instant")
    assert pooled.source_ids == ("gefs", "ifs")
    assert pooled.valid_times[-1] == hours(240)[0]
    assert pooled.beyond == {"ifs": hours(360)[0]}
    assert pooled.member_counts == {"gefs": 31, "ifs": 51}
    shared = np.intersect1d(gefs.valid_times, ifs.valid_times)
    np.testing.assert_array_equal(pooled.valid_times, shared)
    stats = summary(pooled)
    for row, time in enumerate(shared):
        g = gefs.values[np.searchsorted(gefs.valid_times, time)]
        i = ifs.values[np.searchsorted(ifs.valid_times, time)]
        sample = np.concatenate([np.repeat(g, gefs_copies), np.repeat(i, ifs_copies)])
        expected = np.quantile(sample, [0.1, 0.25, 0.5, 0.75, 0.9], method="inverted_cdf")
        got = [stats[name][row] for name in ("q10", "q25", "median", "q75", "q90")]
        np.testing.assert_array_equal(got, expected)
        assert stats["mean"][row] == pytest.approx(sample.mean())
        assert (stats["min"][row], stats["max"][row]) == (sample.min(), sample.max())
        assert probability(pooled.values[row : row + 1], pooled.weights[row : row + 1], ">", 0.5)[0] == pytest.approx(
            (sample > 0.5).mean()
        )


def test_per_step_amounts_are_summed_to_the_coarser_steps() -> None:
    gefs, ifs = two_sources()
    pooled = pool([gefs, ifs], "per_step")
    # 150 h: IFS's 6-hour step (144, 150] against GEFS's 147 h and 150 h steps
    row = int(np.flatnonzero(pooled.valid_times == hours(150)[0])[0])
    g147, g150 = (np.searchsorted(gefs.valid_times, hours(h)[0]) for h in (147, 150))
    np.testing.assert_allclose(pooled.values[row, :31], gefs.values[g147] + gefs.values[g150])
    np.testing.assert_array_equal(pooled.values[row, 31:], ifs.values[np.searchsorted(ifs.valid_times, hours(150)[0])])
    assert hours(147)[0] not in pooled.valid_times
    # below 144 h both are 3-hourly: the step amounts themselves; the first shared time has no window
    assert pooled.valid_times[0] == hours(3)[0]
    np.testing.assert_array_equal(pooled.values[0, :31], gefs.values[1])


def test_a_missing_step_makes_the_window_missing() -> None:
    gefs, ifs = two_sources()
    values = gefs.values.copy()
    values[np.searchsorted(gefs.valid_times, hours(147)[0]), 4] = np.nan
    gefs = MemberSeries("gefs", INIT, gefs.valid_times, values)
    pooled = pool([gefs, ifs], "per_step")
    row = int(np.flatnonzero(pooled.valid_times == hours(150)[0])[0])
    assert np.isnan(pooled.values[row, 4]) and pooled.weights[row, 4] == 0
    assert pooled.weights[row, :31].sum() == pytest.approx(0.5)  # the other 30 share GEFS's half


def test_valid_times_need_every_contributing_source() -> None:
    gefs, ifs = two_sources()
    values = ifs.values.copy()
    values[np.searchsorted(ifs.valid_times, hours(120)[0]) :] = np.nan  # a partial init ingested to 117 h
    ifs = MemberSeries("ifs", INIT, ifs.valid_times, values)
    pooled = pool([gefs, ifs], "instant")
    assert pooled.valid_times[-1] == hours(117)[0]
    assert set(pooled.beyond) == {"gefs", "ifs"}  # both listed past the consensus (IFS's tail has no values)


def test_sources_left_out_say_why() -> None:
    gefs, ifs = two_sources(ifs_weight=0.0)
    empty = MemberSeries("other", INIT, hours(0, 3), np.full((2, 5), np.nan))
    pooled = pool([gefs, ifs, empty], "instant")
    assert pooled.source_ids == ("gefs",)
    assert pooled.left_out == {"ifs": "consensus weight 0", "other": "no data"}
    later = MemberSeries("ifs", INIT + 24 * HOUR, ifs.valid_times + 24 * HOUR, ifs.values)
    totals = pool([gefs, later], "running_total")
    assert totals.source_ids == ("ifs",) and totals.left_out == {"gefs": "other init"}
    assert pool([], "instant").empty


def test_member_series_from_rows_in_any_order() -> None:
    from forecast_core.consensus import member_series

    rng = np.random.default_rng(5)
    times = hours(0, 3, 6)
    matrix = rng.normal(size=(3, 4))
    rows = [(times[t], m, matrix[t, m]) for t in range(3) for m in range(4) if (t, m) != (1, 2)]
    order = rng.permutation(len(rows))
    picked = [rows[i] for i in order]
    series = member_series("gefs", [r[0] for r in picked], [r[1] for r in picked], [r[2] for r in picked],
                           init_time=INIT, weight=2.0)  # fmt: skip
    expected = matrix.copy()
    expected[1, 2] = np.nan
    np.testing.assert_array_equal(series.values, expected)
    np.testing.assert_array_equal(series.valid_times, times)
    assert (series.init_time, series.weight) == (INIT, 2.0)


def test_member_series_reshapes_rows_in_writer_order() -> None:
    from forecast_core.consensus import member_series

    rng = np.random.default_rng(8)
    times = hours(0, 3, 6, 9)
    matrix = rng.normal(size=(4, 5))
    flat_times = np.repeat(times, 5)
    flat_members = np.tile(np.arange(5), 4)
    ordered = member_series("ifs", flat_times, flat_members, matrix.ravel())
    shuffle = rng.permutation(20)
    general = member_series("ifs", flat_times[shuffle], flat_members[shuffle], matrix.ravel()[shuffle])
    np.testing.assert_array_equal(ordered.values, matrix)
    np.testing.assert_array_equal(general.values, matrix)
    np.testing.assert_array_equal(ordered.valid_times, general.valid_times)


def test_weighting_gives_each_source_its_share_on_any_rows() -> None:
    from forecast_core.consensus import Weighting, box_statistics

    gefs, ifs = two_sources(gefs_weight=2.0)
    pooled = pool([gefs, ifs], "instant")
    weighting = Weighting.of(pooled)
    np.testing.assert_allclose(weighting.rows(pooled.values), pooled.weights)
    daily = pooled.values[:3].copy()
    daily[0, :31] = np.nan  # a day GEFS does not complete: IFS alone
    daily[1, :30] = np.nan  # one GEFS member left: it carries GEFS's two thirds
    rows = weighting.rows(daily)
    assert rows[0, 31:].sum() == pytest.approx(1.0) and rows[1, 30] == pytest.approx(2 / 3)
    stats = box_statistics(daily, rows)
    assert stats["member_count"][0] == 51 and stats["median"][0] == np.quantile(
        daily[0, 31:], 0.5, method="inverted_cdf"
    )
