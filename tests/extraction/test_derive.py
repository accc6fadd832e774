"""Pure derivation and statistics functions against direct numpy computations on small arrays."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from extraction.derive import (
    MissingVariable,
    UnitMismatch,
    check_fields,
    ensemble_stats,
    evaluate,
    ingested_mask,
    nan_quantiles,
    running_total,
    step_seconds,
)
from forecast_core import defaults
from forecast_core.registry import (
    ClipNode,
    FieldNode,
    InCodesNode,
    LinearNode,
    ReplaceBelowNode,
)

RNG = np.random.default_rng(42)
LEADS_S = np.array([0, 3, 6, 9, 15, 21], dtype=np.float64) * 3600.0  # a 3 h → 6 h step change


def _variable(variable_id: str, source: str):  # type: ignore[no-untyped-def]
    return defaults.canonical_variables().get(variable_id).derivations[source]


def test_step_seconds_reads_the_lead_coordinate() -> None:
    steps = step_seconds(LEADS_S)
    assert np.isnan(steps[0])
    assert steps[1:].tolist() == [10800.0, 10800.0, 10800.0, 21600.0, 21600.0]


def test_precipitation_is_rate_times_step_and_nan_at_lead_zero() -> None:
    rate = RNG.uniform(0, 1e-3, size=(4, LEADS_S.size, 3))
    rate[:, 0] = np.nan
    result = evaluate(_variable("precipitation", "gefs"), {"precipitation_surface": rate}, step_seconds(LEADS_S))
    expected = rate.copy()
    for lead in range(1, LEADS_S.size):
        expected[:, lead] = rate[:, lead] * (LEADS_S[lead] - LEADS_S[lead - 1])
    np.testing.assert_allclose(result[:, 1:], expected[:, 1:])
    assert np.isnan(result[:, 0]).all()


def test_gefs_snowfall_is_precipitation_times_clipped_categorical_snow() -> None:
    rate = RNG.uniform(0, 1e-3, size=(3, LEADS_S.size, 2))
    snow = RNG.choice([0.0, 1.0, 0.25, 1.2, -0.1], size=rate.shape)
    result = evaluate(
        _variable("snowfall", "gefs"),
        {"precipitation_surface": rate, "categorical_snow_surface": snow},
        step_seconds(LEADS_S),
    )
    steps = np.concatenate([[np.nan], np.diff(LEADS_S)])
    expected = rate * steps[None, :, None] * np.minimum(np.maximum(snow, 0.0), 1.0)
    np.testing.assert_allclose(result, expected, equal_nan=True)


def test_ifs_snowfall_counts_snow_codes_only() -> None:
    rate = np.full((1, LEADS_S.size, 5), 1e-4)
    codes = np.array([0.0, 1.0, 5.0, 6.0, 7.0])[None, None, :].repeat(LEADS_S.size, axis=1)
    codes[0, 2, 0] = np.nan
    result = evaluate(
        _variable("snowfall", "ecmwf_ifs_ens"),
        {"precipitation_surface": rate, "categorical_precipitation_type_surface": codes},
        step_seconds(LEADS_S),
    )
    assert result[0, 1].tolist() == pytest.approx([0.0, 0.0, 1.08, 1.08, 1.08])
    assert np.isnan(result[0, 2, 0])


def test_wind_speed_is_hypot_of_components() -> None:
    u = RNG.normal(size=(2, LEADS_S.size, 4))
    v = RNG.normal(size=u.shape)
    result = evaluate(_variable("wind_speed_10m", "gefs"), {"wind_u_10m": u, "wind_v_10m": v}, step_seconds(LEADS_S))
    np.testing.assert_allclose(result, np.sqrt(u**2 + v**2))


def test_linear_clip_codes_and_replace_below() -> None:
    kelvin = np.array([[[273.15, 283.15, np.nan]]])
    steps = step_seconds([0.0])
    as_c = evaluate(LinearNode(of=FieldNode(variable="t"), offset=-273.15), {"t": kelvin}, steps)
    np.testing.assert_allclose(as_c, kelvin - 273.15, equal_nan=True)
    clipped = evaluate(ClipNode(of=FieldNode(variable="t"), maximum=280.0), {"t": kelvin}, steps)
    assert clipped[0, 0, :2].tolist() == [273.15, 280.0] and np.isnan(clipped[0, 0, 2])
    frozen = np.array([[[-50.0, -0.05, 40.0, np.nan]]])
    replaced = evaluate(ReplaceBelowNode(of=FieldNode(variable="p"), threshold=-0.1, value=0.0), {"p": frozen}, steps)
    assert replaced[0, 0, :3].tolist() == [0.0, -0.05, 40.0] and np.isnan(replaced[0, 0, 3])
    codes = evaluate(InCodesNode(of=FieldNode(variable="c"), codes=[5]), {"c": np.array([[[5.0, 4.0]]])}, steps)
    assert codes.tolist() == [[[1.0, 0.0]]]


def test_check_fields_reports_unit_mismatch_and_missing_variable() -> None:
    node = _variable("temperature_2m", "gefs")
    check_fields(node, {"temperature_2m": {"units": "degree_Celsius"}})
    with pytest.raises(UnitMismatch, match="K"):
        check_fields(node, {"temperature_2m": {"units": "K"}})
    with pytest.raises(MissingVariable):
        check_fields(_variable("wind_speed_10m", "gefs"), {"wind_u_10m": {"units": "m s-1"}})


def test_running_total_counts_lead_zero_as_zero_and_stops_at_ingested_length() -> None:
    steps = RNG.uniform(0, 3, size=(3, LEADS_S.size, 2))
    steps[:, 0] = np.nan  # no step at lead 0
    steps[0, 3, 0] = np.nan  # one missing step inside the ingested range
    steps[2] = np.nan  # a member with no data at all
    ingested = ingested_mask(LEADS_S, np.array([21 * 3600.0, 9 * 3600.0, 21 * 3600.0]))
    totals = running_total(steps, ingested)
    member0 = np.cumsum(np.nan_to_num(steps[0], nan=0.0), axis=0)
    np.testing.assert_allclose(totals[0], member0)
    assert totals[0, 0].tolist() == [0.0, 0.0]
    member1 = np.cumsum(np.nan_to_num(steps[1], nan=0.0), axis=0)
    np.testing.assert_allclose(totals[1, :4], member1[:4])
    assert np.isnan(totals[1, 4:]).all()  # past the member's ingested 9 h
    assert np.isnan(totals[2]).all()


def test_ingested_mask_handles_nat_and_scalar() -> None:
    mask = ingested_mask(LEADS_S, np.array([6 * 3600.0, np.nan]))
    assert mask[0].tolist() == [True, True, True, False, False, False]
    assert not mask[1].any()
    assert ingested_mask(LEADS_S, 9 * 3600.0).shape == (1, LEADS_S.size)


def test_nan_quantiles_equal_numpy_nanquantile() -> None:
    values = RNG.normal(size=(9, 20, 7))
    values[RNG.random(values.shape) < 0.35] = np.nan
    values[:, 0, 0] = np.nan
    levels = [0.1, 0.25, 0.5, 0.75, 0.9]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanquantile(values, levels, axis=0)
    np.testing.assert_allclose(nan_quantiles(values, levels), expected, equal_nan=True)


def test_ensemble_stats_equal_numpy_when_every_position_has_all_members_or_none() -> None:
    """The common layout (a full ensemble, leads past a partial init empty) takes the slice path."""
    values = RNG.normal(size=(7, 6, 5)).astype(np.float32)
    values[:, 4:, :] = np.nan
    stats = ensemble_stats(np.moveaxis(values, 0, -1), axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        data = values.astype(np.float64)
        np.testing.assert_allclose(stats["min"], np.nanmin(data, axis=0), equal_nan=True)
        np.testing.assert_allclose(stats["max"], np.nanmax(data, axis=0), equal_nan=True)
        np.testing.assert_allclose(stats["mean"], np.nanmean(data, axis=0), rtol=1e-12, equal_nan=True)
        for name, level in (("q10", 0.1), ("q25", 0.25), ("median", 0.5), ("q75", 0.75), ("q90", 0.9)):
            np.testing.assert_allclose(stats[name], np.nanquantile(data, level, axis=0), rtol=1e-12, equal_nan=True)
    assert stats["member_count"][:4].min() == 7 and stats["member_count"][4:].max() == 0


def test_ensemble_stats_use_members_with_data_only() -> None:
    values = RNG.normal(size=(5, 4, 3))
    values[1, :, 0] = np.nan
    values[:, 2, 2] = np.nan
    stats = ensemble_stats(values)
    assert stats["member_count"][:, 0].tolist() == [4, 4, 4, 4]
    assert stats["member_count"][2, 2] == 0 and np.isnan(stats["median"][2, 2]) and np.isnan(stats["min"][2, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_allclose(stats["min"], np.nanmin(values, axis=0), equal_nan=True)
        np.testing.assert_allclose(stats["max"], np.nanmax(values, axis=0), equal_nan=True)
        np.testing.assert_allclose(stats["mean"], np.nanmean(values, axis=0), equal_nan=True)
        np.testing.assert_allclose(stats["q25"], np.nanpercentile(values, 25, axis=0), equal_nan=True)
