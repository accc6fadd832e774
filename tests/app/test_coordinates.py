"""Reading typed coordinates (forecast_panel.coordinates)."""

from __future__ import annotations

import pytest

from forecast_panel.coordinates import CoordinateError, format_position, parse_coordinates

DENVER_DMS = (39 + 44 / 60 + 21 / 3600, -(104 + 59 / 60 + 25 / 3600))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("39.7392, -104.9903", (39.7392, -104.9903)),
        ("39.7392 -104.9903", (39.7392, -104.9903)),
        ("39.7392 N 104.9903 W", (39.7392, -104.9903)),
        ("104.9903 W, 39.7392 N", (39.7392, -104.9903)),
        ("39°44'21\"N 104°59'25\"W", DENVER_DMS),
        ("39°44′21″N, 104°59′25″W", DENVER_DMS),
        ("39 44 21 N 104 59 25 W", DENVER_DMS),
        ("N 39 44 21 W 104 59 25", DENVER_DMS),
        ("39 44 21, -104 59 25", DENVER_DMS),
        ("39º44'21''n 104º59'25''w", DENVER_DMS),
        ("39°44.35'N, 104°59.5'W", (39 + 44.35 / 60, -(104 + 59.5 / 60))),
        ("−33.86, 151.21", (-33.86, 151.21)),
        ("-0 30, 10", (-0.5, 10.0)),
    ],
)
def test_accepted_forms(text: str, expected: tuple[float, float]) -> None:
    latitude, longitude = parse_coordinates(text)
    assert latitude == pytest.approx(expected[0]) and longitude == pytest.approx(expected[1])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "type a latitude and a longitude"),
        ("Denver", "cannot read"),
        ("95, 10", "latitude must be between -90 and 90"),
        ("45, 200", "longitude must be between -180 and 180"),
        ("39 75 0 N 104 0 0 W", "minutes must be from 0 to below 60"),
        ("39 44 61 N 104 0 0 W", "seconds must be from 0 to below 60"),
        ("39.5 44 N 104 W", "degrees must be a whole number"),
        ("39.5 N -104 W", "either a minus sign or W"),
        ("39 44 21 -104 59 25", "separate latitude and longitude"),
        ("39.5 N 104", "for both coordinates or for neither"),
        ("39.5 E 104 W", "one latitude (N/S) and one longitude (E/W)"),
        ("39'44° N 104 W", "degrees (°), then minutes"),
    ],
)
def test_bad_input_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(CoordinateError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_coordinates(text)


def test_format_position() -> None:
    assert format_position(39.73916, -104.99027) == "39.7392° N, 104.9903° W"
    assert format_position(-33.86, 151.21) == "33.8600° S, 151.2100° E"
