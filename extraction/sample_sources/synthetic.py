"""Deterministic, physically plausible synthetic forecast fields (pure numpy).

Every function takes coordinates and a seed and returns float32 arrays in the canonical order
``(member, lead, latitude, longitude)``; the writer reorders them into each store's dim order.
The same inputs always give the same values.

What the fields do:
- temperature: a latitude/elevation base, a diurnal cycle by local solar time, synoptic swings,
  colder air under storms, and member spread that grows with lead time;
- precipitation: a few storm episodes per forecast whose timing and intensity scatter more and
  more between members with lead time, heavier over the high terrain, as a mean rate over the
  step ending at each lead (kg m-2 s-1, NaN at lead 0), as in the real stores;
- snow: GEFS categorical snow (0/1, fractional past 240 h) and percent frozen (−50 where dry),
  IFS ENS precipitation-type codes (0 none, 1 rain, 5 snow, 6 wet snow, 7 mix);
- 10 m wind: a westerly flow that strengthens in storms and over ridges, plus member noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class FieldGrid:
    """The coordinates one init's fields are computed on."""

    init_epoch_seconds: int
    lead_hours: npt.NDArray[np.float64]
    latitude: npt.NDArray[np.float64]
    longitude: npt.NDArray[np.float64]
    member_count: int

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.member_count, self.lead_hours.size, self.latitude.size, self.longitude.size)


def keep_mantissa_bits(values: npt.NDArray[np.float32], bits: int) -> FloatArray:
    """Round float32 values to ``bits`` mantissa bits (round half to even), as dynamical does."""
    as_int = values.astype(np.float32).view(np.uint32)
    drop = 23 - bits
    half = np.uint32((1 << (drop - 1)) - 1)
    lsb = (as_int >> np.uint32(drop)) & np.uint32(1)
    rounded = (as_int + half + lsb) & ~np.uint32((1 << drop) - 1)
    result = rounded.view(np.float32)
    return np.where(np.isfinite(values), result, values).astype(np.float32)


def elevation_m(latitude: npt.NDArray[np.float64], longitude: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """A smooth mountain range along ~106°W (a stand-in for terrain height), shape (lat, lon)."""
    lat, lon = np.meshgrid(latitude, longitude, indexing="ij")
    spine = np.exp(-(((lon + 106.2) / 1.3) ** 2)) * (1.0 + 0.25 * np.sin(lat * 2.1))
    plateau = 0.35 * np.exp(-(((lon + 108.5) / 1.5) ** 2))
    return 1400.0 + 2000.0 * spine + 600.0 * plateau


def _member_walk(rng: np.random.Generator, grid: FieldGrid, scale_at_end: float) -> npt.NDArray[np.float64]:
    """Per-member smooth perturbation over lead, std growing ~sqrt(lead); member 0 is the control."""
    members, leads = grid.member_count, grid.lead_hours.size
    steps = rng.normal(size=(members, leads))
    walk = np.cumsum(steps, axis=1)
    kernel = np.ones(5) / 5.0
    walk = np.apply_along_axis(lambda row: np.convolve(row, kernel, mode="same"), 1, walk)
    walk /= np.sqrt(np.arange(1, leads + 1))[None, :]
    growth = np.sqrt(grid.lead_hours / max(grid.lead_hours[-1], 1.0))
    perturbation = walk * scale_at_end * (0.15 + growth)[None, :]
    perturbation[0] *= 0.3  # the control run stays near the unperturbed state
    return perturbation


def storms(rng: np.random.Generator, grid: FieldGrid) -> npt.NDArray[np.float64]:
    """Storm intensity in mm/h, shape (member, lead, lat, lon) before terrain enhancement."""
    horizon = float(grid.lead_hours[-1])
    count = max(2, int(horizon / 96.0))
    centres = np.sort(rng.uniform(6.0, horizon - 6.0, size=count))
    durations = rng.uniform(10.0, 30.0, size=count)
    peaks = rng.gamma(2.0, 0.25, size=count)
    lead = grid.lead_hours[None, :, None, None]
    lon = grid.longitude[None, None, None, :]
    lat = grid.latitude[None, None, :, None]
    total = np.zeros(grid.shape)
    for centre, duration, peak in zip(centres, durations, peaks, strict=True):
        jitter = rng.normal(0.0, 1.0, size=grid.member_count) * (2.0 + 0.12 * centre)
        jitter[0] *= 0.3
        scale = rng.lognormal(0.0, 0.2 + 0.5 * centre / horizon, size=grid.member_count)
        scale[0] = 1.0
        # storms travel eastward at ~1° per hour across the region
        arrival = centre + jitter[:, None, None, None] + (lon - grid.longitude.mean()) * 1.0
        band = 1.0 + 0.3 * np.sin((lat - 38.0) * 1.7 + centre)
        shape = np.exp(-0.5 * ((lead - arrival) / (duration / 2.0)) ** 2)
        total += peak * scale[:, None, None, None] * shape * band
    return total


def generate_fields(grid: FieldGrid, seed: int, day_of_year: int) -> dict[str, FloatArray]:
    """Synthetic fields keyed by canonical role, each (member, lead, lat, lon) float32.

    Roles: ``temperature_2m`` (°C), ``precip_rate`` (kg m-2 s-1 mean over the step ending at the
    lead, NaN at lead 0), ``snow_fraction`` (0…1), ``wind_u_10m``, ``wind_v_10m`` (m/s).
    """
    rng = np.random.default_rng(seed)
    lead = grid.lead_hours
    valid_hours_utc = (grid.init_epoch_seconds / SECONDS_PER_HOUR + lead) % 24.0
    elevation = elevation_m(grid.latitude, grid.longitude)[None, None, :, :]
    lat = grid.latitude[None, None, :, None]
    lon = grid.longitude[None, None, None, :]

    seasonal = 12.0 * np.cos(2 * np.pi * (day_of_year - 200) / 365.25)
    base = 14.0 + seasonal - 0.7 * (lat - 35.0) - 6.5 * (elevation - 1400.0) / 1000.0
    local_solar_hour = (valid_hours_utc[None, :, None, None] + lon / 15.0) % 24.0
    diurnal = 7.0 * np.cos(2 * np.pi * (local_solar_hour - 15.0) / 24.0)
    synoptic = 3.0 * np.sin(2 * np.pi * lead / 150.0 + rng.uniform(0, 2 * np.pi))[None, :, None, None]
    member_temp = _member_walk(rng, grid, scale_at_end=5.0)[:, :, None, None]

    storm = storms(rng, grid)
    orographic = 0.4 + (elevation - 1400.0) / 1500.0
    rate_mm_per_hour = np.clip(0.4 * storm * orographic - 0.03, 0.0, None)
    temperature = base + diurnal + synoptic + member_temp - 2.5 * np.tanh(storm)

    # mean rate over the step ending at each lead ≈ trapezoid of the previous and current state
    rate_mean = np.empty_like(rate_mm_per_hour)
    rate_mean[:, 1:] = 0.5 * (rate_mm_per_hour[:, 1:] + rate_mm_per_hour[:, :-1])
    rate_mean[:, 0] = np.nan
    precip_rate = rate_mean / SECONDS_PER_HOUR  # mm/h -> kg m-2 s-1

    snow_fraction = 1.0 / (1.0 + np.exp((temperature - 0.5) / 0.6))
    wind_noise_u = _member_walk(rng, grid, scale_at_end=4.0)[:, :, None, None]
    wind_noise_v = _member_walk(rng, grid, scale_at_end=4.0)[:, :, None, None]
    ridge = 1.0 + (elevation - 1400.0) / 2500.0
    wind_u = (4.0 + 7.0 * np.tanh(storm) + 3.0 * np.sin(2 * np.pi * lead / 90.0)[None, :, None, None]) * ridge
    wind_v = 2.0 * np.sin(2 * np.pi * lead / 70.0 + 1.0)[None, :, None, None] + 4.0 * np.tanh(storm) * np.sign(
        np.sin(lat)
    )

    return {
        "temperature_2m": keep_mantissa_bits(temperature.astype(np.float32), 7),
        "precip_rate": keep_mantissa_bits(precip_rate.astype(np.float32), 7),
        "snow_fraction": snow_fraction.astype(np.float32),
        "wind_u_10m": keep_mantissa_bits((wind_u + wind_noise_u).astype(np.float32), 6),
        "wind_v_10m": keep_mantissa_bits((wind_v + wind_noise_v).astype(np.float32), 6),
    }


def gefs_snow_fields(fields: dict[str, FloatArray], lead_hours: npt.NDArray[np.float64]) -> dict[str, FloatArray]:
    """GEFS ``categorical_snow_surface`` and ``percent_frozen_precipitation_surface``.

    Categorical snow is 0/1 up to 240 h and a 0…1 fraction beyond (0.5° source regridded);
    percent frozen is −50 (the no-precipitation sentinel) where dry.
    """
    wet = np.nan_to_num(fields["precip_rate"], nan=0.0) > 0.01 / SECONDS_PER_HOUR
    fraction = fields["snow_fraction"]
    fine = lead_hours[None, :, None, None] <= 240.0
    categorical = np.where(fine, (fraction > 0.5).astype(np.float32), np.round(fraction * 4.0) / 4.0)
    categorical = np.where(wet, categorical, 0.0).astype(np.float32)
    frozen = np.where(wet, np.round(100.0 * fraction), -50.0).astype(np.float32)
    return {"categorical_snow_surface": categorical, "percent_frozen_precipitation_surface": frozen}


def ifs_precipitation_type(fields: dict[str, FloatArray]) -> FloatArray:
    """ECMWF ptype codes: 0 none, 1 rain, 5 snow, 6 wet snow, 7 rain-snow mix."""
    wet = np.nan_to_num(fields["precip_rate"], nan=0.0) > 0.01 / SECONDS_PER_HOUR
    temperature = fields["temperature_2m"]
    codes = np.select(
        [temperature < -0.5, temperature < 0.5, temperature < 1.5],
        [5.0, 6.0, 7.0],
        default=1.0,
    )
    return np.where(wet, codes, 0.0).astype(np.float32)
