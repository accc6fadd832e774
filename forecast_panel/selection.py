"""The overview's selection: ONE parameter set from which the widgets, the URL and the views are built.

``MeteogramSelection`` holds only what the user chose (no data, no I/O). Its parameter names are
the URL's query keys (``pn.state.location.sync``), its labels the widgets' labels; the options of
``point``, ``sources``, ``init`` and the unit and threshold choices are filled in by the state
(``forecast_panel.state``) from the run manifest, the configured points and the canonical
variables. ``PANELS`` says what each meteogram panel shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import param

from forecast_panel.daily import Statistic

LATEST = "latest"


@dataclass(frozen=True, slots=True)
class PanelSpec:
    """One meteogram panel: its variable (and running total), an optional second variable drawn
    over it, the unit parameter it follows, and its daily reductions."""

    panel_id: str
    title: str
    variable_id: str
    total_id: str | None
    unit_param: str
    statistics: tuple[Statistic, ...]
    overlay_id: str | None = None
    overlay_total_id: str | None = None


PANELS: dict[str, PanelSpec] = {
    "temperature": PanelSpec("temperature", "Temperature", "temperature_2m", None, "temperature_unit", ("max", "min")),
    "precipitation": PanelSpec(
        "precipitation",
        "Precipitation",
        "precipitation",
        "precipitation_total",
        "precipitation_unit",
        ("sum",),
        overlay_id="snowfall",
        overlay_total_id="snowfall_total",
    ),
    "wind": PanelSpec("wind", "Wind speed", "wind_speed_10m", None, "wind_unit", ("max",)),
}
# Probability strips: variable → the parameter holding its threshold (native units).
THRESHOLDS = {
    "precipitation": "precipitation_threshold",
    "snowfall": "snowfall_threshold",
    "wind_speed_10m": "wind_threshold",
}
UNIT_SYSTEMS = {
    "metric": {"temperature_unit": "degC", "precipitation_unit": "mm", "wind_unit": "km/h"},
    "imperial": {"temperature_unit": "degF", "precipitation_unit": "in", "wind_unit": "mph"},
}
UNIT_PARAMS = ("units", *UNIT_SYSTEMS["metric"])


class MeteogramSelection(param.Parameterized):
    """What the user chose on the overview. Names are URL keys; labels are widget labels."""

    # options filled in later are still checked when set (param checks only if given at first)
    point: Any = param.Selector(default=None, objects=[], check_on_set=True, allow_None=True, label="Point")
    sources = param.ListSelector(default=[], objects=[], check_on_set=True, label="Sources", doc="source ids")
    panels = param.ListSelector(
        default=list(PANELS), objects={spec.title: key for key, spec in PANELS.items()}, label="Panels"
    )
    init: Any = param.Selector(default=LATEST, objects=[LATEST], label="Init date", doc="ISO date or 'latest'")
    boxes: Any = param.Selector(
        default="auto",
        objects={"Auto": "auto", "Daily": "daily", "Every step": "steps"},
        label="Boxes",
        doc="auto: per step where a step's box is wide enough on this screen, daily after that",
    )
    view: Any = param.Selector(
        default="boxes", objects={"Boxes": "boxes", "Bands": "bands"}, label="Show", doc="boxes or percentile bands"
    )
    extras = param.ListSelector(
        default=[],
        objects={
            "Precipitation as running total": "totals",
            "Member traces": "members",
            "Compare with previous init": "previous",
        },
        label="Options",
        doc="switches shown as one group (Bokeh's single check box has no <label>, the group does)",
    )
    times: Any = param.Selector(
        default="local", objects={"Local time": "local", "UTC": "utc"}, label="Times", doc="the point's zone or UTC"
    )
    units: Any = param.Selector(
        default="metric", objects={"Metric": "metric", "Imperial": "imperial"}, label="Units", doc="unit system"
    )
    temperature_unit: Any = param.Selector(default="degC", objects=["degC", "degF"], label="Temperature")
    precipitation_unit: Any = param.Selector(default="mm", objects=["mm", "in"], label="Precipitation")
    wind_unit: Any = param.Selector(default="km/h", objects=["m/s", "km/h", "mph", "kt"], label="Wind")
    precipitation_threshold: Any = param.Selector(
        default=None, objects=[], check_on_set=True, allow_None=True, label="Precipitation above"
    )
    snowfall_threshold: Any = param.Selector(
        default=None, objects=[], check_on_set=True, allow_None=True, label="Snowfall above"
    )
    wind_threshold: Any = param.Selector(
        default=None, objects=[], check_on_set=True, allow_None=True, label="Wind above"
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.param.watch(self._apply_unit_system, list(UNIT_PARAMS))

    def _apply_unit_system(self, *events: param.parameterized.Event) -> None:
        """A new unit system sets each variable's unit, except the ones set in the same update
        (a link or a stored choice that names both keeps the variable's own unit)."""
        changed = {event.name for event in events}
        if "units" not in changed:
            return
        self.param.update(
            {
                name: unit
                for name, unit in UNIT_SYSTEMS[self.units].items()
                if name not in changed and unit in self.param[name].objects
            }
        )

    def has(self, option: str) -> bool:
        """Whether an option of ``extras`` is on ('totals', 'members', 'previous')."""
        return option in self.extras

    def unit_choices(self) -> dict[str, str]:
        """The page's unit choices (what the browser remembers)."""
        return {name: str(getattr(self, name)) for name in UNIT_PARAMS}

    def apply_values(self, values: dict[str, Any]) -> list[str]:
        """Set each valid value (unknown names or options are skipped); returns the skipped names.
        An old link or a stale stored choice never loses the rest of the selection."""
        skipped = []
        ordered = sorted(values.items(), key=lambda item: item[0] != "units")  # the system first
        for name, value in ordered:
            if name not in self.param or name == "name":
                skipped.append(name)
                continue
            try:
                self.param.update({name: value})
            except (ValueError, TypeError):
                skipped.append(name)
        return skipped

    def url_parameters(self) -> list[str]:
        """Every selection parameter: all of them are kept in the URL."""
        return [name for name in self.param if name != "name"]
