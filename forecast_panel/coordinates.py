"""Reading a latitude/longitude pair typed by a person (pure functions).

Accepted, latitude first unless hemisphere letters say otherwise:

- decimal degrees: ``39.7392, -104.9903`` · ``39.7392 -104.9903`` · ``39.7392 N 104.9903 W``
- degrees, minutes, seconds with symbols: ``39°44'21"N 104°59'25"W`` (also ′ ″ º and ’ ”)
- degrees, minutes, seconds with plain spaces: ``39 44 21 N 104 59 25 W`` or ``39 44 21, -104 59 25``
- degrees and decimal minutes: ``39°44.35'N, 104°59.42'W``

Hemisphere letters (N/S/E/W, either case) may come before or after each coordinate. A bad
input raises ``CoordinateError`` whose message says what is wrong and shows an example.
"""

from __future__ import annotations

import math
import re

EXAMPLE = "e.g. 39.74, -104.99 or 39°44'21\"N 104°59'25\"W"
_SYMBOLS = str.maketrans(
    {"−": "-", "º": "°", "˚": "°", "′": "'", "’": "'", "‘": "'", "´": "'", "″": '"', "”": '"', "“": '"'}
)
_TOKEN = re.compile(
    r"""\s*(?:(?P<number>[+-]?\d+(?:\.\d+)?)\s*(?P<unit>°|''|'|"|d\b|deg\b)?|(?P<hemisphere>[NSEWnsew])\b)"""
)
_SPLIT = re.compile(r"\s*[,;]\s*")


class CoordinateError(ValueError):
    """The text is not a latitude/longitude pair; the message is meant for the user."""


def format_position(latitude: float, longitude: float) -> str:
    """ "39.7392° N, 104.9903° W"."""
    return (
        f"{abs(latitude):.4f}° {'N' if latitude >= 0 else 'S'}, {abs(longitude):.4f}° {'E' if longitude >= 0 else 'W'}"
    )


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, value) tokens: ("number", "39.5") with ("unit", "°"|"'"|'"') after it, or ("hemisphere", "N")."""
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise CoordinateError(f"cannot read “{text[position:].strip()}”: {EXAMPLE}")
        if match.group("number") is not None:
            tokens.append(("number", match.group("number")))
            unit = match.group("unit")
            if unit:
                tokens.append(("unit", {"''": '"', "d": "°", "deg": "°"}.get(unit, unit)))
        else:
            tokens.append(("hemisphere", match.group("hemisphere").upper()))
        position = match.end()
        while position < len(text) and text[position] in " ,;":
            position += 1
    return tokens


def _halves(tokens: list[tuple[str, str]], text: str) -> list[list[tuple[str, str]]]:
    """Split the tokens into the two coordinates: at a hemisphere letter, at a comma, or (two
    bare numbers) between them."""
    letters = [index for index, (kind, _) in enumerate(tokens) if kind == "hemisphere"]
    if len(letters) == 2:
        first, second = letters
        cut = first + 1 if first > 0 else second  # letters after the numbers, or before them
        return [tokens[:cut], tokens[cut:]]
    if letters:
        raise CoordinateError(f"give a hemisphere letter for both coordinates or for neither: {EXAMPLE}")
    parts = _SPLIT.split(text.strip())
    if len(parts) == 2:
        return [_tokens(parts[0]), _tokens(parts[1])]
    numbers = [token for token in tokens if token[0] == "number"]
    if len(numbers) == 2 and len(tokens) <= 4:
        middle = next(index for index, token in enumerate(tokens) if token is numbers[1])
        return [tokens[:middle], tokens[middle:]]
    raise CoordinateError(f"separate latitude and longitude with a comma or N/S/E/W letters: {EXAMPLE}")


def _numbers(tokens: list[tuple[str, str]]) -> list[tuple[float, str | None, bool]]:
    """Each number of a coordinate: (value, its unit mark or None, whether it carries a minus)."""
    found = []
    for index, (kind, value) in enumerate(tokens):
        if kind == "number":
            unit = tokens[index + 1][1] if index + 1 < len(tokens) and tokens[index + 1][0] == "unit" else None
            found.append((float(value), unit, value.startswith("-")))
    if not 1 <= len(found) <= 3:
        raise CoordinateError(f"a coordinate has degrees, then optional minutes and seconds: {EXAMPLE}")
    expected = ["°", "'", '"'][: len(found)]
    if any(unit not in (None, wanted) for (_, unit, _), wanted in zip(found, expected, strict=True)):
        raise CoordinateError(f"write degrees (°), then minutes ('), then seconds (\"): {EXAMPLE}")
    if any(minus for _, _, minus in found[1:]):
        raise CoordinateError("only the degrees may carry a minus sign")
    return found


def _magnitude(numbers: list[tuple[float, str | None, bool]]) -> float:
    """Degrees, minutes and seconds as unsigned degrees."""
    degrees = numbers[0][0]
    total = abs(degrees)
    for (amount, _, _), (name, scale) in zip(numbers[1:], [("minutes", 60.0), ("seconds", 3600.0)], strict=False):
        if amount < 0 or amount >= 60:
            raise CoordinateError(f"{name} must be from 0 to below 60, not {amount:g}")
        if not float(degrees).is_integer():
            raise CoordinateError(f"with {name}, the degrees must be a whole number, not {degrees:g}")
        total += amount / scale
    return total


def _degrees(tokens: list[tuple[str, str]]) -> tuple[float, str | None]:
    """(signed degrees, hemisphere letter or None) of one coordinate's tokens."""
    hemisphere = next((value for kind, value in tokens if kind == "hemisphere"), None)
    numbers = _numbers(tokens)
    negative = numbers[0][2]
    if negative and hemisphere is not None:
        raise CoordinateError(f"use either a minus sign or {hemisphere}, not both")
    total = _magnitude(numbers)
    return (-total if negative or hemisphere in ("S", "W") else total), hemisphere


def parse_coordinates(text: str) -> tuple[float, float]:
    """(latitude, longitude) in decimal degrees from what a person typed (see the module doc)."""
    cleaned = text.translate(_SYMBOLS).strip()
    if not cleaned:
        raise CoordinateError(f"type a latitude and a longitude, {EXAMPLE}")
    first, second = (_degrees(half) for half in _halves(_tokens(cleaned), cleaned))
    if first[1] in ("E", "W") or second[1] in ("N", "S"):
        first, second = second, first
    if first[1] in ("E", "W") or second[1] in ("N", "S"):
        raise CoordinateError("give one latitude (N/S) and one longitude (E/W)")
    latitude, longitude = first[0], second[0]
    if not math.isfinite(latitude) or not -90 <= latitude <= 90:
        raise CoordinateError(f"latitude must be between -90 and 90 (90° S and 90° N), not {latitude:g}")
    if not math.isfinite(longitude) or not -180 <= longitude <= 180:
        raise CoordinateError(f"longitude must be between -180 and 180 (180° W and 180° E), not {longitude:g}")
    return latitude, longitude
