"""Grid cells that turn the distance rule into DynamoDB conditions.

The globe is cut into latitude bands of height 1.5·D and, within each band, into longitude cells
at least 1.5·D wide at the band's most poleward edge (D = the dedupe distance). Any point within D
of a position then lies in the position's cell or one of its neighbours (±1 band, ±1 cell), so a
create that conditions on the version of those cells being unchanged cannot race another create
nearby: one of the two transactions fails and retries against the other's point.
"""

from __future__ import annotations

import math

from forecast_core.points import EARTH_RADIUS_KM

KM_PER_DEGREE = 2 * math.pi * EARTH_RADIUS_KM / 360.0
MARGIN = 1.5  # cells wider than D, so the haversine-vs-grid approximation never matters


def _band_height_deg(distance_km: float) -> float:
    return min(180.0, MARGIN * distance_km / KM_PER_DEGREE)


def _cells_in_band(band: int, height: float, distance_km: float) -> int:
    """Longitude cells in ``band``: each at least MARGIN·D wide at the band's poleward edge."""
    low, high = -90.0 + band * height, min(90.0, -90.0 + (band + 1) * height)
    poleward = min(90.0, max(abs(low), abs(high)))
    circumference = 2 * math.pi * EARTH_RADIUS_KM * math.cos(math.radians(poleward))
    return max(1, math.floor(circumference / (MARGIN * distance_km)))


def cell_keys(latitude: float, longitude: float, distance_km: float) -> list[str]:
    """Keys (``cell#<D>#<band>:<index>``) of the position's cell first, then its neighbours."""
    height = _band_height_deg(distance_km)
    bands = math.ceil(180.0 / height)
    own_band = min(bands - 1, math.floor((latitude + 90.0) / height))
    fraction = ((longitude + 180.0) % 360.0) / 360.0
    keys: list[str] = []
    for band in (own_band, own_band - 1, own_band + 1):
        if not 0 <= band < bands:
            continue
        count = _cells_in_band(band, height, distance_km)
        index = math.floor(fraction * count) % count
        for offset in (0, -1, 1):
            key = f"cell#{distance_km:g}#{band}:{(index + offset) % count}"
            if key not in keys:
                keys.append(key)
    return keys
