"""Display units: the identifiers the app offers and exact linear conversions between them.

Artifacts store values in each canonical variable's native unit (°C, mm, m/s); the app converts
for display only. Conversions are affine (``value × scale + offset``) within one dimension.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:  # numpy is imported where arrays are converted: the contracts (and the Lambda) need none
    import numpy as np
    import numpy.typing as npt

UnitId = Literal["degC", "degF", "K", "mm", "cm", "in", "m/s", "km/h", "mph", "kt", "1", "%"]

# unit -> (dimension, scale to the dimension's base unit, offset): base = value * scale + offset
_UNITS: Final[dict[str, tuple[str, float, float]]] = {
    "degC": ("temperature", 1.0, 0.0),
    "degF": ("temperature", 5.0 / 9.0, -32.0 * 5.0 / 9.0),
    "K": ("temperature", 1.0, -273.15),
    "mm": ("length", 1.0, 0.0),
    "cm": ("length", 10.0, 0.0),
    "in": ("length", 25.4, 0.0),
    "m/s": ("speed", 1.0, 0.0),
    "km/h": ("speed", 1000.0 / 3600.0, 0.0),
    "mph": ("speed", 1609.344 / 3600.0, 0.0),
    "kt": ("speed", 1852.0 / 3600.0, 0.0),
    "1": ("fraction", 1.0, 0.0),
    "%": ("fraction", 0.01, 0.0),
}

UNIT_LABELS: Final[dict[str, str]] = {
    "degC": "°C",
    "degF": "°F",
    "K": "K",
    "mm": "mm",
    "cm": "cm",
    "in": "in",
    "m/s": "m/s",
    "km/h": "km/h",
    "mph": "mph",
    "kt": "kt",
    "1": "",
    "%": "%",
}


class UnitError(ValueError):
    """Unknown unit or conversion across dimensions."""


def convertible(from_unit: str, to_unit: str) -> bool:
    """True when both units are known and measure the same dimension."""
    return from_unit in _UNITS and to_unit in _UNITS and _UNITS[from_unit][0] == _UNITS[to_unit][0]


def conversion(from_unit: str, to_unit: str) -> tuple[float, float]:
    """(scale, offset) such that ``to = from × scale + offset``."""
    if not convertible(from_unit, to_unit):
        raise UnitError(f"cannot convert {from_unit!r} to {to_unit!r}")
    _, scale_from, offset_from = _UNITS[from_unit]
    _, scale_to, offset_to = _UNITS[to_unit]
    return scale_from / scale_to, (offset_from - offset_to) / scale_to


def convert(values: npt.ArrayLike, from_unit: str, to_unit: str) -> npt.NDArray[np.float64]:
    """Convert values (NaN stays NaN)."""
    import numpy as np

    scale, offset = conversion(from_unit, to_unit)
    return np.asarray(values, dtype=np.float64) * scale + offset


def convert_difference(values: npt.ArrayLike, from_unit: str, to_unit: str) -> npt.NDArray[np.float64]:
    """Convert a difference or spread (no offset: 1 K of change is 1.8 °F of change)."""
    import numpy as np

    scale, _ = conversion(from_unit, to_unit)
    return np.asarray(values, dtype=np.float64) * scale


def convert_scalar(value: float, from_unit: str, to_unit: str) -> float:
    """Convert one number (no numpy: the rule model and the Lambda use it)."""
    scale, offset = conversion(from_unit, to_unit)
    return value * scale + offset


def label(unit: str) -> str:
    """Human label of a unit id (``degC`` → ``°C``)."""
    return UNIT_LABELS.get(unit, unit)
