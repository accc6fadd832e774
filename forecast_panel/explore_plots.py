"""Plots of the exploration API: the dashboard's own meteogram, and hvplot/GeoViews one-liners.

- ``meteogram`` is the app's meteogram: the overview's Panel ``Viewer``
  (``forecast_panel.views.overview.meteogram``, the building block the app itself is made of),
  set to choices checked here against the selection's options (``MeteogramSelection``), with
  points, sources, panels and inits named the way the rest of this API names them. It stays
  hand-built Bokeh because a redraw is a data update of fixed glyphs, measured several times
  cheaper than the HoloViews equivalent (``benchmarks/bench_meteogram_build.py``,
  docs/performance.md).
- ``boxplot`` (members per valid time), ``exceedance`` and ``map`` are hvplot on the tidy frames
  of ``ForecastStore``: nothing drawn by hand. hvplot's boxes follow Tukey's rule (quartile box,
  whiskers to 1.5 IQR, outliers as dots), computed from the members themselves, whereas the
  meteogram draws the published statistics the ECMWF way (q25–q75, q10–q90, min–max).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

import holoviews as hv
import hvplot.pandas  # noqa: F401 (registers the .hvplot accessor)
import pandas as pd
import panel as pn

from forecast_core import units as unit_labels
from forecast_core.points import Point
from forecast_panel import frames as fr
from forecast_panel.explore import InitRef, NotInStore
from forecast_panel.explore_catalog import choices_text
from forecast_panel.selection import LATEST, PANELS, THRESHOLDS, UNIT_SYSTEMS, MeteogramSelection
from forecast_panel.state import OverviewState
from forecast_panel.views import overview
from forecast_panel.views.overview import OverviewView

if TYPE_CHECKING:
    from forecast_panel.explore import ForecastStore

LABEL_FORMAT = "%m-%d %H h"  # sorts chronologically within a year, short on a categorical axis
FLAGS = ("members", "previous", "totals")  # switches of the selection's ``extras``, as booleans


def panel_key(name: str) -> str:
    """A meteogram panel by its key ('wind'), title ('Wind speed') or one of its variable ids."""
    wanted = name.casefold()
    for key, spec in PANELS.items():
        ids = {spec.variable_id, spec.total_id, spec.overlay_id, spec.overlay_total_id}
        if wanted in {key, spec.title.casefold()} | ids:
            return key
    raise ValueError(f"no meteogram panel {name!r}; panels: {choices_text(list(PANELS))}")


def _choice_error(selection: MeteogramSelection, name: str, value: Any, unit: str | None = None) -> ValueError:
    """What is wrong with ``name=value``, naming what the selection offers (thresholds: in ``unit``)."""
    if name not in selection.url_parameters():
        return ValueError(f"{name!r} is not a meteogram choice; choices: {choices_text(selection.url_parameters())}")
    options = ", ".join(repr(item) for item in selection.param[name].objects) or "none"
    text = f"{name}={value!r} is not offered here; {name} is one of {options}"
    if name == "units":
        per_variable = ", ".join(f"{item}=…" for item in UNIT_SYSTEMS["metric"])
        return ValueError(f"{text} (the unit system; a variable's own unit: {per_variable})")
    return ValueError(f"{text} ({unit}, the variable's native unit)" if unit else text)


class Plots:
    """The plots of one ``ForecastStore`` (reach them as ``store.plot`` or its shortcuts)."""

    def __init__(self, store: ForecastStore) -> None:
        self.store = store

    # --- the dashboard's meteogram ---------------------------------------------------------------

    def _init(self, init: InitRef, sources: Sequence[str], panels: Sequence[str]) -> str:
        """The selection's init ('latest' or an ISO date) for ``init`` as this API names it."""
        if init is None or init == LATEST:
            return LATEST
        if init == "previous":
            if not sources or not panels:
                raise ValueError("init='previous' needs a source and a panel")
            chosen = self.store.init_date(sources[0], PANELS[panels[0]].variable_id, init)
            return LATEST if chosen is None else chosen.isoformat()
        return init.isoformat() if isinstance(init, date) else str(init)

    def _threshold_unit(self, name: str) -> str | None:
        """The unit of a threshold parameter's values (its variable's native unit)."""
        variable = next((variable for variable, parameter in THRESHOLDS.items() if parameter == name), None)
        return self.store.canonical(variable).native_units if variable else None

    def meteogram_choices(
        self, point: str | Point, panels: str | Sequence[str] | None = None, **choices: Any
    ) -> dict[str, Any]:
        """``MeteogramSelection`` values for these choices, each checked against the options the
        dashboard offers for this store (ValueError / ``NotInStore`` naming them otherwise).

        Besides the selection's own parameters (``boxes``, ``view``, ``times``, ``units``,
        ``temperature_unit`` …, ``precipitation_threshold`` …, ``extras``): ``panels`` by key,
        title or variable id; ``sources`` by id or name; ``init`` as elsewhere in this API;
        ``members``, ``previous`` and ``totals`` as booleans switching the ``extras``."""
        selection = OverviewState(self.store.datastore).selection
        chosen = self.store.point(point)
        if chosen.point_id not in selection.param.point.objects:
            raise NotInStore(f"{chosen.point_name} is not offered by the dashboard (disabled, or no forecast)")
        wanted: dict[str, Any] = {"point": chosen.point_id}
        if panels is not None:
            wanted["panels"] = list(
                dict.fromkeys(panel_key(item) for item in ([panels] if isinstance(panels, str) else panels))
            )
        if choices.get("sources") is not None:
            wanted["sources"] = self.store.source_ids(choices.pop("sources"))
        flags = {name: bool(choices.pop(name)) for name in FLAGS if name in choices}
        if flags:
            extras = [item for item in choices.pop("extras", selection.extras) if flags.get(item, True)]
            wanted["extras"] = extras + [name for name, on in flags.items() if on and name not in extras]
        if "init" in choices:
            shown = wanted.get("panels", selection.panels)
            wanted["init"] = self._init(choices.pop("init"), wanted.get("sources", selection.sources), shown)
        wanted.update(choices)
        for name, value in sorted(wanted.items(), key=lambda item: item[0] != "units"):  # as the selection does
            if name not in selection.url_parameters():
                raise _choice_error(selection, name, value)
            try:
                selection.param.update({name: value})
            except (ValueError, TypeError):
                raise _choice_error(selection, name, value, self._threshold_unit(name)) from None
        return wanted

    def meteogram(
        self, point: str | Point, panels: str | Sequence[str] | None = None, *, controls: bool = False, **choices: Any
    ) -> OverviewView | pn.Row:
        """The dashboard's meteogram of ``point``: the overview's own Panel ``Viewer`` (display
        it; ``.current`` holds its frames, ``.meteogram.layout`` its Bokeh figures). ``choices``:
        see ``meteogram_choices``. With ``controls`` the dashboard's widgets sit beside it and
        redraw it in a live kernel."""
        wanted = self.meteogram_choices(point, panels, **choices)
        view = overview.meteogram(self.store.datastore, **wanted)
        if not controls:
            return view
        return pn.Row(pn.Column(view.controls(), width=280), view, sizing_mode="stretch_width")

    # --- hvplot ------------------------------------------------------------------------------

    def _colors(self) -> dict[str, str]:
        sources = self.store.sources()
        return dict(zip(sources["source_id"], sources["color"], strict=True))

    def _names(self) -> dict[str, str]:
        sources = self.store.sources()
        return dict(zip(sources["source_id"], sources["display_name"], strict=True))

    def boxplot(
        self,
        point: str | Point,
        variable: str = "temperature_2m",
        *,
        sources: str | Sequence[str] | None = None,
        init: InitRef = None,
        units: str | None = None,
        tz: str | None = None,
        days: float | None = None,
        width: int = 900,
        height: int = 300,
    ) -> hv.Layout:
        """hvplot boxes of the members at each valid time (the first ``days`` only, if given),
        one plot per source; valid times in the point's local time (or ``tz``)."""
        frame = self.store.members(point, variable, sources=sources, init=init, units=units, tz=tz)
        if frame.empty:
            raise NotInStore(f"{self.store.point(point).point_name}: no forecast of {variable} yet")
        frame = frame.dropna(subset=["value"])
        if days is not None:
            frame = frame[frame["lead_hours"] <= days * 24]
        frame = frame.assign(valid=frame["valid_local"].dt.strftime(LABEL_FORMAT)).sort_values(["lead_hours"])
        colors, names = self._colors(), self._names()
        unit = unit_labels.label(str(frame["units"].iloc[0]))
        name = self.store.point(point).point_name
        zone = self.store.zone(point, tz)
        plots = [
            rows.hvplot.box(
                y="value",
                by="valid",
                color=colors.get(str(source_id), "#1f77b4"),
                title=f"{name} · {names.get(str(source_id), source_id)} · {variable}",
                ylabel=unit,
                xlabel=f"valid time ({zone})",
                rot=90,
                width=width,
                height=height,
            )
            for source_id, rows in frame.groupby("source_id", sort=False)
        ]
        return hv.Layout(plots).cols(1)

    def exceedance(
        self,
        point: str | Point,
        variable: str,
        threshold: float,
        *,
        per: Literal["day", "step"] = "day",
        width: int = 900,
        height: int | None = None,
        **options: Any,
    ) -> hv.Overlay:
        """P(value > threshold) per source: per local day as a heat strip with the numbers, like
        the meteogram's probability strip (``per="day"``), or per valid time as step lines
        (``per="step"``). ``options``: those of ``ForecastStore.exceedance``."""
        frame = self.store.exceedance(point, variable, threshold, per=per, **options)
        if frame.empty:
            raise NotInStore(f"{self.store.point(point).point_name}: no members of {variable} to count")
        names = self._names()
        unit = unit_labels.label(str(frame["units"].iloc[0]))
        zone = self.store.zone(point, options.get("tz"))
        what = f"daily {variable}" if per == "day" else variable
        title = f"{self.store.point(point).point_name} · P({what} > {threshold:g} {unit})"
        frame = frame.assign(source=frame["source_id"].map(lambda sid: names.get(str(sid), str(sid))))
        if per == "day":
            return self._strip(frame, title, zone, width, height)
        frame = frame.assign(valid=frame["valid_local"].dt.tz_localize(None))
        colors = self._colors()
        lines = [
            rows.hvplot.step(
                x="valid",
                y="probability",
                where="mid",
                color=colors.get(str(source_id), "#1f77b4"),
                label=names.get(str(source_id), str(source_id)),
            )
            for source_id, rows in frame.groupby("source_id", sort=False)
        ]
        return hv.Overlay(lines).opts(
            title=title, ylim=(0, 100), ylabel="%", xlabel=f"valid time ({zone})", width=width, height=height or 260
        )

    @staticmethod
    def _strip(frame: pd.DataFrame, title: str, zone: str, width: int, height: int | None) -> hv.Overlay:
        """Per-day probabilities as the meteogram's strip: a heat map of one hue (Blues), with the
        numbers (white on the darker cells), one row per source."""
        frame = frame.assign(
            day=frame["valid_local"].dt.strftime("%Y-%m-%d %a"),
            source=frame["source"].map(fr.short_name),
            text=frame["probability"].map(lambda value: f"{value:.0f}"),
            ink=frame["probability"].map(lambda value: "white" if value > 55 else "black"),
        )
        heat = frame.hvplot.heatmap(x="day", y="source", C="probability", cmap="Blues", clim=(0, 100), colorbar=False)
        numbers = hv.Labels(frame, kdims=["day", "source"], vdims=["text", "ink"]).opts(
            text_color="ink", text_font_size="9pt"
        )
        rows = frame["source"].nunique()
        return (heat * numbers).opts(
            title=title,
            xlabel=f"local day ({zone})",
            ylabel="",
            xrotation=90,
            width=width,
            height=height or 150 + 30 * rows,
        )

    def map(
        self,
        variable: str = "temperature_2m",
        *,
        source: str | None = None,
        lead_hours: float | None = None,
        init: InitRef = None,
        units: str | None = None,
        statistic: str = "median",
        tiles: str | None = None,
        width: int = 700,
        height: int = 450,
    ) -> hv.Overlay:
        """The map summary (``statistic`` of each grid cell at one lead, nearest 24 h by default)
        as GeoViews points through hvplot, the configured points on top. ``tiles`` names an
        hvplot tile source (e.g. "CartoLight"; none offline)."""
        frame, lead = self.map_frame(variable, source=source, lead_hours=lead_hours, init=init, units=units)
        if statistic not in frame:
            raise ValueError(f"statistic is one of median, q10, q90, member_count, not {statistic!r}")
        unit = unit_labels.label(str(frame["units"].iloc[0]))
        valid = pd.Timestamp(frame["valid_time"].iloc[0])
        cells = frame.hvplot.points(
            x="longitude",
            y="latitude",
            c=statistic,
            geo=True,
            tiles=tiles or False,
            marker="square",
            size=60,
            cmap="coolwarm" if variable.startswith("temperature") else "viridis",
            clabel=f"{statistic} ({unit})",
            hover_cols=["median", "q10", "q90", "member_count"],
            title=f"{variable} {statistic}, +{lead:g} h ({valid:%Y-%m-%d %H} UTC)",
            width=width,
            height=height,
        )
        points = self.store.points()
        marks = points.hvplot.points(
            x="longitude", y="latitude", geo=True, color="black", marker="triangle", size=90, hover_cols=["point_name"]
        ) * points.hvplot.labels(
            x="longitude", y="latitude", text="point_name", geo=True, text_align="left", text_font_size="9pt"
        )
        return cells * marks

    def map_frame(
        self,
        variable: str,
        *,
        source: str | None = None,
        lead_hours: float | None = None,
        init: InitRef = None,
        units: str | None = None,
    ) -> tuple[pd.DataFrame, float]:
        """The map-summary rows of one lead in ``units``, and that lead (nearest 24 h if None)."""

        source_id = self.store.source_ids(source)[0] if source else self.store.source_ids()[0]
        canonical = self.store.canonical(variable)
        init_date = self.store.init_date(source_id, variable, init)
        leads = self.store.datastore.map_leads(source_id, variable, init_date)
        if not leads:
            raise NotInStore(f"{source_id}/{variable}: the run published no map summary")
        lead = min(leads, key=lambda hours: abs(hours - 24.0)) if lead_hours is None else float(lead_hours)
        if lead not in leads:
            raise NotInStore(f"{source_id}/{variable}: no map at +{lead:g} h; leads: {leads}")
        unit = self.store.unit_of(variable, units)
        frame = self.store.datastore.map_summary(source_id, variable, lead, init_date)
        stats = ["median", "q10", "q90"]
        converted = fr.to_display({name: frame[name].to_numpy() for name in stats}, canonical.native_units, unit, stats)
        frame = frame.assign(**converted, units=unit)
        return frame, lead
