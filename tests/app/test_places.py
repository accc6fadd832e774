"""The offline gazetteer (forecast_panel.places): normalisation, ranking, map labels, extents."""

from __future__ import annotations

import numpy as np
import pytest

from forecast_panel import places
from forecast_panel.places import Gazetteer, Place, normalize, robust_extent


def city(name: str, population: int, latitude: float = 0.0, longitude: float = 0.0, context: str = "Testland") -> Place:
    return Place("city", name, context, latitude, longitude, population, "UTC")


@pytest.fixture(scope="module")
def small() -> Gazetteer:
    cities = [
        city("Denver", 700_000, 39.74, -104.98, "Colorado, United States"),
        city("Denton", 140_000, 33.21, -97.13, "Texas, United States"),
        city("Colorado Springs", 450_000, 38.83, -104.82, "Colorado, United States"),
        city("Zürich", 415_000, 47.37, 8.54, "Switzerland"),
        city("Zürich (Kreis 3)", 46_000, 47.37, 8.51, "Switzerland"),
        city("Munich", 1_500_000, 48.14, 11.58, "Germany"),
        city("São Paulo", 12_400_000, -23.55, -46.63, "Brazil"),
        city("Aspen", 7_000, 39.19, -106.82, "Colorado, United States"),
    ]
    names = [[normalize("München"), normalize("Muenchen")] if item.name == "Munich" else [] for item in cities]
    region = Place("region", "Colorado", "United States", 39.0, -105.5, 5_000_000, None, (37.0, 41.0, -109.0, -102.0))
    return Gazetteer([*cities, region], [*names, []])


def test_normalize_folds_case_accents_and_punctuation() -> None:
    assert normalize("São-Tomé") == "sao tome"
    assert normalize("  ZÜRICH ") == "zurich"
    assert normalize("Øvre Ålesund") == "ovre alesund"
    assert normalize("St. Louis") == "st louis"
    assert normalize("Straße") == "strasse"


def labels(found: list[places.Match]) -> list[str]:
    return [match.place.name for match in found]


def test_prefix_ranks_by_population_and_exact_names_first(small: Gazetteer) -> None:
    assert labels(small.search("den")) == ["Denver", "Denton"]
    assert labels(small.search("Colorado"))[:2] == ["Colorado", "Colorado Springs"], "exact name before a prefix"
    assert small.search("colorado")[0].place.kind == "region"


def test_accent_insensitive_alternate_and_partial_matches(small: Gazetteer) -> None:
    assert labels(small.search("sao pa")) == ["São Paulo"]
    assert labels(small.search("SÃO")) == ["São Paulo"]
    assert labels(small.search("zurich")) == ["Zürich"], "a city's districts are not listed beside it"
    assert labels(small.search("münchen")) == ["Munich"], "alternate names match"
    assert small.search("muenchen")[0].tier == 0
    assert labels(small.search("springs")) == ["Colorado Springs"], "a later word of the name"
    assert labels(small.search("olorado sp")) == ["Colorado Springs"], "inside a name"
    assert small.search("d") == [] and small.search("xyzzy") == []


def test_labels_scale_with_the_zoom(small: Gazetteer) -> None:
    wide = small.labels_in(-60, 60, -180, 180, count=3, columns=1, rows=1)
    assert [place.name for place in wide] == ["São Paulo"], "one cell: only the largest city"
    colorado = small.labels_in(39.0, 40.0, -107.5, -104.0)
    assert [place.name for place in colorado] == ["Denver", "Aspen"], "zoomed in: smaller towns appear"
    assert small.labels_in(0, 1, 0, 1) == []


def test_nearest_city_and_robust_extent(small: Gazetteer) -> None:
    nearest = small.nearest_city(39.5, -106.5)
    assert nearest is not None and nearest.name == "Aspen"
    rng = np.random.default_rng(0)
    latitudes = rng.uniform(40, 50, 200)
    longitudes = np.concatenate([rng.uniform(-5, 8, 199), [150.0]])  # one far-off island
    south, north, west, east = robust_extent(latitudes, longitudes)
    assert 40 <= south < north <= 50 and -5 <= west < east <= 8
    fiji = robust_extent(np.array([-17.0, -18.0, -16.5]), np.array([178.0, 179.5, -179.8]))
    assert fiji[2] > 170 and fiji[3] < -170, "across the antimeridian the box stays narrow (west > east)"


def test_the_shipped_gazetteer_finds_cities_states_and_countries() -> None:
    gazetteer = places.gazetteer()
    assert len(gazetteer) > 60_000
    assert gazetteer.search("bould")[0].place.label == "Boulder, Colorado, United States"
    assert gazetteer.search("Zurich")[0].place.label == "Zürich, Switzerland"
    assert gazetteer.search("sao paulo")[0].place.label == "São Paulo, Brazil"
    assert gazetteer.search("wien")[0].place.name == "Vienna"
    state = gazetteer.search("Colorado")[0].place
    assert state.kind == "region" and state.extent is not None
    assert 37 <= state.latitude <= 41 and -109 <= state.longitude <= -102
    france = gazetteer.search("france")[0].place
    assert france.kind == "country" and france.extent is not None and 42 < france.latitude < 51
    nearest = gazetteer.nearest_city(39.74, -104.98)
    assert nearest is not None and nearest.timezone == "America/Denver"


def test_a_clicked_result_is_the_place_its_label_showed_even_after_more_typing() -> None:
    from forecast_panel.views.place_finder import PlaceFinder, result_label

    chosen: list[Place] = []
    finder = PlaceFinder(on_place=chosen.append, on_position=lambda *_: None)
    seen = {result_label(place): place for place in finder.search("boul")}
    clicked = next(label for label in seen if label.startswith("Boulder — Colorado"))
    finder.search("bould")  # the server moved on before the click arrived: the slots hold other results
    finder.pick_label(clicked)
    assert chosen == [seen[clicked]], "the place the user saw, not the one now in that slot"
    assert finder.offered == {} and not any(button.visible for button in finder.buttons), "the results close"
    finder.pick_label("Nowhere — never offered")
    assert len(chosen) == 1, "a label never offered picks nothing"


def test_labels_offered_are_bounded_and_the_ones_on_screen_kept() -> None:
    from forecast_panel.views.place_finder import OFFERED_KEPT, PlaceFinder, result_label

    finder = PlaceFinder(on_place=lambda _place: None, on_position=lambda *_: None)
    shown = [result_label(place) for place in finder.search("den")]
    for query in ("a", "b", "c", "d", "e", "f", "g", "h", "i", "k", "l", "m", "n", "o", "p", "r", "s", "t"):
        finder.search(query * 2)
    on_screen = [result_label(place) for place in finder.search("den")]
    assert len(finder.offered) <= OFFERED_KEPT and on_screen == shown
    assert all(label in finder.offered for label in on_screen), "what is on screen can still be clicked"
