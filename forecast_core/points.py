"""The point model shared by the app, the write-back API and the pipeline, and its name rules.

A point name is user text: it is NFKC-normalised, trimmed, whitespace-collapsed, bounded in
length and free of control/format characters. It is always rendered as text, never as markup.
Two names are duplicates when their *dedupe keys* match: case-folded and with common lookalike
characters (Cyrillic/Greek homoglyphs, dashes, quotes, zero-width marks) folded to one form.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable
from typing import Annotated, Final

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from forecast_core.base import ContractModel, Identifier, UtcDatetime

MAX_POINT_NAME_LENGTH: Final = 80
MAX_TAGS: Final = 10
MAX_TAG_LENGTH: Final = 32
EARTH_RADIUS_KM: Final = 6371.229  # the sphere dynamical.org's grids assume

_WHITESPACE = re.compile(r"\s+")
_DISALLOWED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_LOOKALIKES: Final[dict[str, str]] = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "һ": "h",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ϲ": "c",
    # digits and punctuation that read alike
    "0": "o", "1": "l", "ı": "i", "ł": "l",
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-",
    "‘": "'", "’": "'", "`": "'", "´": "'", "“": '"', "”": '"',
}  # fmt: skip


class PointNameError(ValueError):
    """A point name breaks the name rules; the message says which."""


def clean_point_name(raw: str) -> str:
    """The stored form of a point name, or PointNameError.

    NFKC normalisation, surrounding whitespace trimmed, inner whitespace runs collapsed to one
    space; rejects empty names, names over MAX_POINT_NAME_LENGTH characters and any control,
    format, private-use or unassigned character.
    """
    if not isinstance(raw, str):
        raise PointNameError("point_name must be a string")
    normalised = unicodedata.normalize("NFKC", raw)
    for char in normalised:
        if unicodedata.category(char) in _DISALLOWED_CATEGORIES and char not in "\t\n\r ":
            raise PointNameError(f"point_name contains a control or invisible character (U+{ord(char):04X})")
        if char in "\t\n\r\x0b\x0c":
            raise PointNameError(f"point_name contains a control character (U+{ord(char):04X})")
    cleaned = _WHITESPACE.sub(" ", normalised).strip()
    if not cleaned:
        raise PointNameError("point_name must not be empty")
    if len(cleaned) > MAX_POINT_NAME_LENGTH:
        raise PointNameError(f"point_name is {len(cleaned)} characters; the limit is {MAX_POINT_NAME_LENGTH}")
    return cleaned


def name_dedupe_key(name: str) -> str:
    """Key under which two names count as the same point name (case and lookalikes folded)."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", name).casefold())
    without_marks = "".join(char for char in folded if not unicodedata.combining(char))
    mapped = "".join(_LOOKALIKES.get(char, char) for char in without_marks)
    return _WHITESPACE.sub(" ", mapped).strip()


def normalize_longitude(longitude: float) -> float:
    """Longitude in [−180, 180); accepts −180…180 and 0…360 input.

    Exact: a longitude below 180 is kept as it is, one of 180…360 becomes ``longitude − 360``
    (a single subtraction of numbers within a factor two of each other, so no rounding), and
    the nearest cell of a point is the one its given longitude selects (``forecast_core.grid``).
    """
    if not math.isfinite(longitude) or not -180.0 <= longitude <= 360.0:
        raise ValueError(f"longitude {longitude} outside −180…360")
    wrapped = longitude - 360.0 if longitude >= 180.0 else longitude
    return 0.0 if wrapped == 0.0 else wrapped


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance on dynamical.org's sphere (R = 6 371 229 m), in km."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = phi2 - phi1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def point_set_hash(points: Iterable[Point]) -> str:
    """sha256 (hex) of the sorted ``id|lat|lon`` lines of ``points`` (6 decimals): the manifest's
    ``point_set_hash``. Compare it with the enabled points to tell whether a run covers them."""
    rows = sorted(f"{p.point_id}|{p.latitude:.6f}|{p.longitude:.6f}" for p in points)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def make_point_id(name: str, latitude: float, longitude: float) -> str:
    """A stable, URL-safe id: a slug of the name plus a short hash of name and position."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:40] or "point"
    digest = hashlib.sha256(f"{name_dedupe_key(name)}|{latitude:.4f}|{longitude:.4f}".encode()).hexdigest()[:8]
    return f"{slug}-{digest}"


def _clean_name(value: object) -> object:
    if isinstance(value, str):
        try:
            return clean_point_name(value)
        except PointNameError as error:
            raise ValueError(str(error)) from error
    return value


def _clean_tags(value: object) -> object:
    if isinstance(value, list):
        cleaned: list[object] = []
        for tag in value:
            if isinstance(tag, str):
                tag = _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", tag)).strip()
                if any(unicodedata.category(char) in _DISALLOWED_CATEGORIES for char in tag):
                    raise ValueError("tags must not contain control or invisible characters")
            if tag not in cleaned:
                cleaned.append(tag)
        return cleaned
    return value


PointName = Annotated[str, BeforeValidator(_clean_name), Field(min_length=1, max_length=MAX_POINT_NAME_LENGTH)]
# Field constraints come first: so pydantic checks them in its core schema and publishes them as
# JSON Schema keywords (``minimum`` / ``maximum``); placed after a validator, they would only be
# checked in Python and appear as unread ``ge`` / ``le`` keys in every schema a client sees.
Latitude = Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180.0, le=360.0, allow_inf_nan=False), AfterValidator(normalize_longitude)]
Tag = Annotated[str, Field(min_length=1, max_length=MAX_TAG_LENGTH)]
Tags = Annotated[list[Tag], BeforeValidator(_clean_tags), Field(max_length=MAX_TAGS)]
PointId = Identifier
Actor = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w.@+\- ]+$")]


class PointPayload(ContractModel):
    """What a client sends to create a point (the design's payload plus tags and enabled)."""

    point_name: PointName
    latitude: Latitude
    longitude: Longitude
    created_by: Actor
    tags: Tags = []
    enabled: bool = True


class PointUpdate(ContractModel):
    """A partial update: rename, retag, enable or disable. At least one field is required."""

    point_name: PointName | None = None
    tags: Tags | None = None
    enabled: bool | None = None
    updated_by: Actor | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> PointUpdate:
        if self.point_name is None and self.tags is None and self.enabled is None:
            raise ValueError("give at least one of point_name, tags, enabled")
        return self


class Point(ContractModel):
    """A stored point, as listed in ``pre_canned_points.json`` and returned by the API."""

    point_id: PointId
    point_name: PointName
    latitude: Latitude
    longitude: Longitude
    created_by: Actor
    created_utc: UtcDatetime
    updated_utc: UtcDatetime
    tags: Tags = []
    enabled: bool = True

    @property
    def dedupe_key(self) -> str:
        return name_dedupe_key(self.point_name)


class PreCannedPoints(ContractModel):
    """``dashboard/config/pre_canned_points.json``: every point, enabled or not."""

    schema_version: int = Field(default=1, ge=1, le=1)
    generated_utc: UtcDatetime
    points: list[Point]

    @model_validator(mode="after")
    def _unique(self) -> PreCannedPoints:
        ids = [point.point_id for point in self.points]
        if len(ids) != len(set(ids)):
            raise ValueError("duplicate point ids")
        return self

    def enabled_points(self) -> list[Point]:
        return [point for point in self.points if point.enabled]

    def get(self, point_id: str) -> Point:
        for point in self.points:
            if point.point_id == point_id:
                return point
        raise KeyError(f"unknown point {point_id!r}")
