"""Forecast Overview: the selection's widgets and the meteogram, rendered from the state's frames.

``OverviewView`` is a Panel ``Viewer``: ``controls()`` are the widgets (built from the
``MeteogramSelection``'s parameters), ``__panel__()`` the tab. A selection change recomputes the
frames once (``refresh``) and pushes them into the meteogram's existing glyphs.

The browser tells the server two things through a hidden model (``client``): its width (for the
``auto`` boxes) and the unit choices it remembers (localStorage), applied unless the URL names
units. The server writes the page's unit choices back into that model's ``tags``, which the
browser stores.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import panel as pn
import param
from bokeh.models import CustomJS
from bokeh.models.widgets import Div

from forecast_panel import frames as fr
from forecast_panel.alert_rules import Draft, draft_for_cell
from forecast_panel.data import DataStore, shared_datastore
from forecast_panel.header import header_html
from forecast_panel.selection import UNIT_PARAMS
from forecast_panel.state import OverviewState
from forecast_panel.views import choices
from forecast_panel.views.meteogram import Meteogram

# A session's own busy cue (Panel's template busy indicator is process-wide): the browser marks
# itself busy when a control changes (``page.js``: one listener for every control; a
# ``jscallback`` per widget made each session's document re-index its models once per widget);
# the redraw clears it (the layout's ``tags`` carry the revision).
BUSY_OFF = """document.body.classList.remove('fp-busy'); clearTimeout(window.fpBusyTimer);"""
UNITS_KEY = "forecast-panel-units"
REPORT = """
function report() {
  const width = Math.round(window.innerWidth / 50) * 50
  const query = new URLSearchParams(window.location.search)
  let stored = {}
  try { stored = JSON.parse(window.localStorage.getItem(KEY) || "{}") } catch (error) { stored = {} }
  const units = {}
  for (const name of Object.keys(stored)) { if (!query.has(name)) { units[name] = stored[name] } }
  const text = JSON.stringify({width: width, units: units})
  if (client.text !== text) { client.text = text }
}
if (!client.tags.includes("listening")) {
  client.tags = [...client.tags, "listening"]
  let timer = null
  window.addEventListener("resize", () => { clearTimeout(timer); timer = setTimeout(report, 300) })
}
report()
""".replace("KEY", json.dumps(UNITS_KEY))
STORE = f"""for (const item of client.tags) {{
  if (item.startsWith("{{")) {{ try {{ window.localStorage.setItem({json.dumps(UNITS_KEY)}, item) }} catch (e) {{}} }}
}}"""
SR_ONLY = """.fp-sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden;
clip: rect(0, 0, 0, 0); white-space: nowrap; border: 0; }"""
HEADER_CSS = """.fp-title { line-height: 1.45; } .fp-point { font-size: 1.25em; }
.fp-zone { font-weight: 600; color: #1f3b57; } .fp-details { font-size: 0.85em; color: #444; margin-top: 2px; }
.fp-note { color: #7a4f00; margin: 2px 0; font-size: 0.9em; }"""
FOCUS_CSS = ":host *:focus-visible { outline: 3px solid #e69f00; outline-offset: 1px; }"
LABEL_CSS = ".fp-label { font-size: 0.9em; font-weight: 600; color: #222; }"
# Widget kind per selection parameter; groups without a title of their own get a heading.
WIDGETS: dict[str, dict[str, Any]] = {
    "point": {"widget_type": choices.Select},
    "sources": {"widget_type": choices.CheckBoxGroup, "heading": "Sources"},
    "panels": {"widget_type": choices.CheckBoxGroup, "heading": "Panels"},
    "init": {"widget_type": choices.Select},
    "boxes": {"widget_type": choices.RadioButtonGroup, "heading": "Boxes"},
    "view": {"widget_type": choices.RadioButtonGroup, "heading": "Show"},
    "extras": {"widget_type": choices.CheckBoxGroup, "heading": "Options"},
    "times": {"widget_type": choices.RadioButtonGroup, "heading": "Times"},
    "units": {"widget_type": choices.RadioButtonGroup, "heading": "Units"},
    "temperature_unit": {"widget_type": choices.RadioButtonGroup, "heading": "Temperature"},
    "precipitation_unit": {"widget_type": choices.RadioButtonGroup, "heading": "Precipitation"},
    "wind_unit": {"widget_type": choices.RadioButtonGroup, "heading": "Wind"},
    "precipitation_threshold": {"widget_type": choices.Select},
    "snowfall_threshold": {"widget_type": choices.Select},
    "wind_threshold": {"widget_type": choices.Select},
}


class TextPane(pn.pane.HTML):
    """An HTML pane whose new content is sent as its text alone. Panel's HTML pane sends every
    property again with each new object, its stylesheets (~1 KB of CSS) included."""

    def _update(self, ref: str, model: Any) -> None:
        model.update(text=self._transform_object(self.object)["object"])


class OverviewView(pn.viewable.Viewer):
    """Renders an OverviewState; ``controls()`` for the sidebar, ``__panel__()`` for the tab."""

    revision = param.Integer(default=0, doc="bumped after each recomputation of the frames")

    def __init__(self, state: OverviewState, **params: Any) -> None:
        super().__init__(**params)
        self.state = state
        self.selection = state.selection
        self._held = 0
        self._dirty = False
        self.current = state.frames()
        self.header = TextPane("", sizing_mode="stretch_width", stylesheets=[HEADER_CSS])
        self.notes = TextPane("", sizing_mode="stretch_width", stylesheets=[HEADER_CSS])
        self.summary = TextPane("", sizing_mode="stretch_width", stylesheets=[SR_ONLY])
        self.meteogram = Meteogram()
        self.client = Div(visible=False, text="", tags=[json.dumps(self.selection.unit_choices())])
        self.meteogram.layout.children.append(self.client)
        self.client.on_change("text", self._client_report)
        self.client.js_on_change("tags", CustomJS(args={"client": self.client}, code=STORE))
        self.meteogram.x_range.js_on_change("start", CustomJS(args={"client": self.client}, code=REPORT))
        self.meteogram.layout.js_on_change("tags", CustomJS(code=BUSY_OFF))
        self.plot = pn.pane.Bokeh(self.meteogram.layout, sizing_mode="stretch_width", css_classes=["fp-main"])
        self.download = pn.widgets.FileDownload(
            callback=self._csv, filename="forecast.csv", label="Download CSV", width=160
        )
        self.on_strip_tap: Callable[[Draft], None] | None = None  # a tapped strip cell (the alerts form)
        self.below: list[Any] = []  # sections under the meteogram (the point's alerts)
        self.meteogram.strip_source.selected.on_change("indices", self._strip_tapped)
        self.selection.param.watch(self._on_change, self.selection.url_parameters())
        self.selection.param.watch(self._store_units, list(UNIT_PARAMS))
        self._render()

    # --- updates ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Changes inside redraw once, at the end (if any of them needs a redraw)."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
        if not self._held and self._dirty:
            self.refresh()

    def _on_change(self, *events: param.parameterized.Event) -> None:
        names = {event.name for event in events} - {"units"}  # the system's units change themselves
        if not names:
            return
        self._dirty = True
        if names & {"sources", *UNIT_PARAMS}:
            with self.hold():
                self.state.refresh_options()
        elif not self._held:
            self.refresh()

    def refresh(self) -> None:
        """Recompute frames and push them to the plots (one data update, no figure rebuild),
        under one hold of the session's document (in a served session: one message)."""
        if self._held:
            return
        self._dirty = False
        # One document hold: the header, every panel's data, the summary and the revision reach
        # the browser as one message, which BokehJS applies (and lays out) at once; unheld, the
        # header went first on its own and each data source followed as a message of its own.
        with pn.io.hold():
            self.current = self.state.frames()
            self._render()
            self.revision += 1
            self.meteogram.layout.tags = [self.revision]  # last: the browser's busy cue ends with it

    def _render(self) -> None:
        self.header.object = header_html(self.state)
        self.notes.object = "".join(f"<div class='fp-note'>{fr.escape(note)}</div>" for note in self.current.notes)
        zone = self.current.zone
        label = "time (UTC)" if zone == "UTC" else f"local time ({zone})"
        self.meteogram.update(self.current, bands=self.selection.view == "bands", time_label=label)
        self.summary.object = self._summary_html()

    def _summary_html(self) -> str:
        sections = []
        for panel in self.current.panels:
            items = "".join(f"<li>{fr.escape(line)}</li>" for line in panel.summary) or "<li>no data</li>"
            sections.append(f"<h3>{fr.escape(panel.title)} ({fr.escape(panel.unit)}), per day</h3><ul>{items}</ul>")
        return (
            "<section class='fp-sr-only' aria-label='Meteogram as text'><h2>Meteogram as text</h2>"
            + "".join(sections)
            + "</section>"
        )

    def _client_report(self, _attr: str, _old: str, new: str) -> None:
        try:
            report = json.loads(new)
            width = int(report.get("width", 0))
            stored = {key: value for key, value in dict(report.get("units", {})).items() if key in UNIT_PARAMS}
        except (ValueError, TypeError, AttributeError):
            return  # a malformed report changes nothing
        with self.hold():
            if width and width != self.state.viewport_width:
                before = self.state.split()
                self.state.viewport_width = width
                self._dirty = self._dirty or self.state.split() != before  # the boxes change
            self.selection.apply_values(stored)

    def _strip_tapped(self, _attr: str, _old: list[int], new: list[int]) -> None:
        if not new or self.on_strip_tap is None:
            return
        draft = draft_for_cell(self.current, int(new[0]), self.state.display_unit_of, self.state.datastore.variables())
        if draft is not None:
            self.on_strip_tap(draft)

    def _store_units(self, *_: Any) -> None:
        self.client.tags = [json.dumps(self.selection.unit_choices())]

    def _csv(self) -> io.StringIO:
        buffer = io.StringIO()
        self.current.table.to_csv(buffer, index=False)
        buffer.seek(0)
        return buffer

    # --- layout -------------------------------------------------------------------------------

    def controls(self) -> pn.Column:
        """The selection widgets (placed in the template's sidebar by the app), each built from
        its parameter; button groups and check boxes get a visible label of their own."""
        parts: list[Any] = []
        for name in self.selection.url_parameters():
            spec = WIDGETS[name]
            widget = spec["widget_type"].from_param(
                self.selection.param[name], sizing_mode="stretch_width", stylesheets=[FOCUS_CSS]
            )
            if spec.get("heading"):
                parts.append(
                    pn.pane.HTML(
                        f"<div class='fp-label'>{fr.escape(spec['heading'])}</div>",
                        stylesheets=[LABEL_CSS],
                        margin=(8, 10, 0, 10),
                    )
                )
            parts.append(widget)
        return pn.Column(*parts, self.download, sizing_mode="stretch_width", css_classes=["fp-controls"])

    def __panel__(self) -> pn.Column:
        return pn.Column(self.header, self.notes, self.plot, self.summary, *self.below, sizing_mode="stretch_width")


def meteogram(store: DataStore | str, point: str | None = None, **choices: Any) -> OverviewView:
    """The overview's meteogram of a point as the app shows it (a Panel ``Viewer``: display it in a
    notebook, or use ``.meteogram.layout`` for the Bokeh objects and ``.current`` for the frames).
    ``choices`` are ``MeteogramSelection`` parameters (``units="imperial"``, ``panels=[...]``);
    an unknown point or choice raises ValueError naming it."""
    state = OverviewState(store if isinstance(store, DataStore) else shared_datastore(store))
    wanted = {**({"point": point} if point is not None else {}), **choices}
    skipped = state.selection.apply_values(wanted)
    if skipped:
        raise ValueError(f"not a valid choice here: {', '.join(f'{name}={wanted[name]!r}' for name in skipped)}")
    state.refresh_options()  # as the view does after a change: threshold labels in the chosen units
    return OverviewView(state)
