"""Finding a place on the map tab: a name search, a coordinates field and "use my location".

Render only: the search itself is ``forecast_panel.places`` and the coordinates are read by
``forecast_panel.coordinates``. What the user picks goes to ``on_place(place)`` or
``on_position(latitude, longitude, label)``.

- The search box answers every keystroke (``value_input``) on the server: up to ``RESULTS``
  matches shown as buttons whose labels are updated in place (a fixed pool of widgets, so a
  keystroke sends a few label changes, never new models). Enter picks the first match.
- The coordinates field takes decimal or degrees-minutes-seconds; Enter or "Go" reads it and a
  bad input shows what is wrong next to the field.
- "Use my location" asks the browser (``navigator.geolocation``, which browsers offer only on
  HTTPS pages and localhost); the answer, or the reason there is none, comes back through a
  hidden text field as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import panel as pn

from forecast_panel.coordinates import CoordinateError, format_position, parse_coordinates
from forecast_panel.frames import escape
from forecast_panel.places import MIN_QUERY_LENGTH, Place, gazetteer
from forecast_panel.views.map_layers import MAP_CSS

RESULTS = 6
RESULT_CSS = """
.bk-btn { justify-content: flex-start; text-align: left; font-weight: normal; padding: 4px 10px; white-space: normal; }
"""
COLUMN_STYLE = {"flex": "1 1 300px", "min-width": "0"}
KIND_NAMES = {"city": "", "region": "state", "country": "country"}

# a result button reports the label the user saw: the server's slots may already hold a newer query's results
OFFERED_KEPT = 60  # labels remembered for late clicks: ten searches' worth of results
PICKED_JS = "target.value = JSON.stringify({label: button.label, at: Date.now()})"
GEOLOCATE_JS = """
const report = (answer) => { target.value = JSON.stringify(Object.assign(answer, {at: Date.now()})) }
if (!window.isSecureContext || !navigator.geolocation) {
  report({error: 'unavailable', message: 'this page cannot ask for your location (it needs HTTPS)'})
} else {
  navigator.geolocation.getCurrentPosition(
    (found) => report({latitude: found.coords.latitude, longitude: found.coords.longitude,
                       accuracy: found.coords.accuracy}),
    (failed) => report({error: failed.code === 1 ? 'denied' : (failed.code === 3 ? 'timeout' : 'unavailable'),
                        message: failed.message || ''}),
    {enableHighAccuracy: false, timeout: 20000, maximumAge: 600000})
}
"""
GEOLOCATION_ERRORS = {
    "denied": "Your browser did not allow this page to know your location. Allow it in the browser's site "
    "settings, or search for a place or type coordinates instead.",
    "timeout": "Your browser could not find your location in time. Try again, or search for a place instead.",
    "unavailable": "Your location is not available here ({message}). Search for a place or type coordinates instead.",
}


def result_label(place: Place) -> str:
    """ "Denver — Colorado, United States" · "Colorado — state, United States" · "France — country"."""
    kind = KIND_NAMES[place.kind]
    context = ", ".join(part for part in (kind, place.context) if part)
    return f"{place.name} — {context}" if context else place.name


def geolocation_answer(raw: str) -> tuple[float, float, float | None] | str:
    """(latitude, longitude, accuracy in m) from the browser's answer, or the message to show."""
    try:
        answer = json.loads(raw)
        if "error" in answer:
            template = GEOLOCATION_ERRORS.get(str(answer["error"]), GEOLOCATION_ERRORS["unavailable"])
            return template.format(message=str(answer.get("message") or "no reason given"))
        accuracy = answer.get("accuracy")
        return float(answer["latitude"]), float(answer["longitude"]), float(accuracy) if accuracy else None
    except (ValueError, KeyError, TypeError):
        return GEOLOCATION_ERRORS["unavailable"].format(message="the browser's answer could not be read")


class PlaceFinder:
    """The search box, its results, the coordinates field and the location button."""

    def __init__(
        self,
        on_place: Callable[[Place], None],
        on_position: Callable[[float, float, str], None],
    ) -> None:
        self.on_place = on_place
        self.on_position = on_position
        self.matches: list[Place] = []
        self.offered: dict[str, Place] = {}  # the results shown lately (OFFERED_KEPT at most), by label
        self.search_input = pn.widgets.TextInput(
            label="Find a place",
            placeholder="City, state or country, e.g. Denver",
            css_classes=["fp-search"],
            sizing_mode="stretch_width",
        )
        self.search_input.param.watch(self._on_typing, "value_input")
        self.search_input.param.watch(lambda _: self.pick(0), "enter_pressed")
        self.buttons = [
            pn.widgets.Button(
                label="",
                visible=False,
                variant="outline",
                css_classes=["fp-result"],
                sizing_mode="stretch_width",
                stylesheets=[RESULT_CSS],
                margin=(2, 10),
            )
            for _ in range(RESULTS)
        ]
        self._picked_label = pn.widgets.TextInput(visible=False, label="picked result")
        for button in self.buttons:
            button.js_on_click(args={"target": self._picked_label, "button": button}, code=PICKED_JS)
        self._picked_label.param.watch(self._on_result, "value")
        self.search_note = pn.pane.HTML(
            "", css_classes=["fp-search-note"], sizing_mode="stretch_width", stylesheets=[MAP_CSS]
        )
        self.coordinates_input = pn.widgets.TextInput(
            label="Latitude, longitude",
            placeholder="39.74, -104.99 or 39°44'N 104°59'W",
            css_classes=["fp-coordinates"],
            sizing_mode="stretch_width",
        )
        self.coordinates_input.param.watch(self._on_go, "enter_pressed")
        self.go_button = pn.widgets.Button(label="Go", color="primary", align="end", width=70)
        self.go_button.on_click(self._on_go)
        self.coordinates_note = pn.pane.HTML(
            "", css_classes=["fp-coordinates-note"], sizing_mode="stretch_width", stylesheets=[MAP_CSS]
        )
        self.locate_button = pn.widgets.Button(label="Use my location", variant="outline", width=160)
        self._location_answer = pn.widgets.TextInput(visible=False, label="browser location")
        self.locate_button.js_on_click(args={"target": self._location_answer}, code=GEOLOCATE_JS)
        self.locate_button.on_click(lambda _: self._note_location("Asking your browser for your location…"))
        self._location_answer.param.watch(self._on_location, "value")

    # --- search ---------------------------------------------------------------------------------

    def _on_typing(self, event: Any) -> None:
        self.search(str(event.new or ""))

    def _on_result(self, event: Any) -> None:
        try:
            label = str(json.loads(str(event.new or "{}")).get("label", ""))
        except (ValueError, AttributeError):
            return
        self.pick_label(label)

    def _on_go(self, _event: object) -> None:
        self.go_to_coordinates()

    def search(self, text: str) -> list[Place]:
        """Show the matches of ``text`` (what the user typed so far)."""
        query = text.strip()
        self.matches = [match.place for match in gazetteer().search(query, limit=RESULTS)] if query else []
        for place in self.matches:  # re-shown labels move to the end: the newest are kept
            label = result_label(place)
            self.offered.pop(label, None)
            self.offered[label] = place
        for stale in list(self.offered)[: max(0, len(self.offered) - OFFERED_KEPT)]:
            del self.offered[stale]  # oldest first: a click reports what was on screen moments ago
        for button, shown in zip(self.buttons, self.matches + [None] * RESULTS, strict=False):
            if shown is None:
                button.visible = False
            else:
                button.param.update(label=result_label(shown), visible=True)
        if not query:
            note = ""
        elif len(query) < MIN_QUERY_LENGTH:
            note = "Keep typing…"
        elif not self.matches:
            note = (
                f"No place called “{escape(query)}” in the offline list of cities, states and countries. "
                "Try the start of the name, or type coordinates."
            )
        else:
            note = ""
        self.search_note.object = f"<div class='fp-note-text' role='status'>{note}</div>" if note else ""
        return self.matches

    def pick(self, index: int) -> None:
        """Choose match ``index``: the results close and the map goes there."""
        if index >= len(self.matches):
            return
        self._choose(self.matches[index])

    def pick_label(self, label: str) -> None:
        """Choose the result the user clicked, by the label it showed when clicked (typing may have
        replaced the results on the server since); a label never offered is ignored."""
        place = self.offered.get(label)
        if place is not None:
            self._choose(place)

    def _choose(self, place: Place) -> None:
        self.matches, self.offered = [], {}
        for button in self.buttons:
            button.visible = False
        self.search_note.object = ""
        self.on_place(place)

    # --- coordinates ----------------------------------------------------------------------------

    def go_to_coordinates(self) -> tuple[float, float] | None:
        """Read the coordinates field; go there, or say what is wrong with it."""
        text = str(self.coordinates_input.value_input or self.coordinates_input.value or "")
        try:
            latitude, longitude = parse_coordinates(text)
        except CoordinateError as error:
            self.coordinates_note.object = f"<div class='fp-error' role='alert'>{escape(str(error))}</div>"
            return None
        self.coordinates_note.object = ""
        self.on_position(latitude, longitude, format_position(latitude, longitude))
        return latitude, longitude

    # --- my location ----------------------------------------------------------------------------

    def _note_location(self, text: str, error: bool = False) -> None:
        css = "fp-error" if error else "fp-note-text"
        self.coordinates_note.object = f"<div class='{css}' role='status'>{escape(text)}</div>"

    def _on_location(self, event: Any) -> None:
        answer = geolocation_answer(str(event.new or ""))
        if isinstance(answer, str):
            self._note_location(answer, error=True)
            return
        latitude, longitude, accuracy = answer
        self.coordinates_input.value = f"{latitude:.5f}, {longitude:.5f}"
        within = f" (within {accuracy:,.0f} m)" if accuracy else ""
        self._note_location(f"Your location{within}: {format_position(latitude, longitude)}")
        self.on_position(latitude, longitude, "Your location")

    def panel(self) -> pn.viewable.Viewable:
        search = pn.Column(self.search_input, *self.buttons, self._picked_label, self.search_note, styles=COLUMN_STYLE)
        coordinates = pn.Column(
            pn.Row(self.coordinates_input, self.go_button, sizing_mode="stretch_width"),
            self.locate_button,
            self._location_answer,
            self.coordinates_note,
            styles=COLUMN_STYLE,
        )
        return pn.FlexBox(
            search,
            coordinates,
            flex_wrap="wrap",
            align_items="flex-start",
            sizing_mode="stretch_width",
            css_classes=["fp-finder"],
        )
