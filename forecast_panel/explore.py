"""Exploring published forecasts from Python: the public API the notebooks import.

::

    import forecast_panel as fp

    store = fp.open_store("demo-data/store")  # a local folder or s3://bucket/prefix
    store.points()  # names, ids, positions, whether a forecast exists
    frame = store.members("Boulder Flatirons", "temperature_2m", units="imperial")
    store.meteogram("Boulder Flatirons")  # the dashboard's own meteogram, inline
    store.boxplot("Boulder Flatirons", "temperature_2m")  # hvplot boxes of the members

Contract:

- Every read goes through the app's ``DataStore``: ``manifests/latest.json`` → the run manifest →
  only the artifacts it lists, each verified against its sha256, one point's row group at a time.
  Nothing here lists the store or opens a Parquet file by path. Older runs are reached through
  each manifest's ``previous_run_id`` (``runs``), status and config through their fixed keys.
- Points are named by id, by name (matched like the write-back API matches duplicates:
  case-folded, lookalikes folded) or given as a ``Point``; sources by id or display name;
  ``init`` is None / ``"latest"`` (newest), ``"previous"`` (the one before) or a date.
- Frames are tidy pandas frames with the published column names plus ``units`` (the unit of the
  value columns: the variable's native unit unless ``units`` names a unit or a unit system,
  'metric' / 'imperial', chosen per variable as the dashboard chooses) and ``valid_local``: the
  valid time in the point's zone, found from its coordinates by the dashboard's rule
  (``forecast_panel.localtime``), or in ``tz`` when given. ``valid_time`` stays UTC.
- Daily values and exceedance use the dashboard's own pure functions (``forecast_panel.daily``):
  per LOCAL day of the point, a member's daily total / high / low, and the share of members above
  a threshold, so ``exceedance`` gives the numbers of the meteogram's probability strip.
- Unknown names raise ``NotInStore`` (a ``LookupError``) naming what the store has.

Plots (``meteogram``, ``boxplot``, ``exceedance_plot``, ``map``) live in
``forecast_panel.explore_plots``; this module only reads and shapes frames.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from forecast_core.points import Point
from forecast_panel import frames as fr
from forecast_panel.daily import MemberMatrix, Statistic, daily_statistics, daily_summary, daily_values
from forecast_panel.daily import exceedance_percent as percent_above
from forecast_panel.data import DataStore
from forecast_panel.explore_catalog import InitRef, NotInStore, StoreCatalog, choices_text

if TYPE_CHECKING:
    import xarray as xr

    from forecast_panel.explore_plots import Plots

__all__ = ["ForecastStore", "InitRef", "NotInStore", "open_store"]
Sources = str | Sequence[str] | None
STATISTICS: tuple[Statistic, ...] = ("sum", "max", "min", "last")


def _exceedance_rows(
    members: pd.DataFrame, threshold: float, per: Literal["day", "step"], statistic: Statistic, zone: str
) -> pd.DataFrame:
    """One source's P(value > threshold) per lead or per local day (``daily``'s rules)."""
    matrix = MemberMatrix.of(members)
    if per == "step":
        values, times = matrix.values, matrix.times
        extra: dict[str, Any] = {"lead_hours": matrix.leads}
    else:
        daily = daily_values(matrix, statistic, zone)
        values, times = daily.values, daily.noon
        extra = {"day": pd.to_datetime(daily.days).date, "statistic": f"daily {statistic}"}
    frame = pd.DataFrame(
        {
            "valid_time": pd.to_datetime(times).tz_localize("UTC").astype(members["valid_time"].dtype),
            **extra,
            "probability": percent_above(values, threshold),
            "member_count": np.sum(~np.isnan(values), axis=1).astype("int64"),
        }
    )
    return frame[frame["member_count"] > 0]  # a lead or day no member has is left out, not 0 %


class ForecastStore(StoreCatalog):
    """What one artifact store published, read as the dashboard reads it (see the module doc)."""

    # --- data ----------------------------------------------------------------------------------

    def _frames(
        self,
        kind: Literal["members", "summary"],
        point: str | Point,
        variable: str,
        sources: Sources,
        init: InitRef,
        units: str | None,
        tz: str | None,
    ) -> pd.DataFrame:
        chosen = self.point(point)
        native = self.canonical(variable).native_units
        unit = self.unit_of(variable, units)
        zone = self.zone(chosen, tz)
        read = self.datastore.members if kind == "members" else self.datastore.summary
        columns = ["value"] if kind == "members" else list(fr.STAT_COLUMNS)
        parts = []
        for source_id in self.source_ids(sources):
            frame = read(source_id, variable, chosen.point_id, self.init_date(source_id, variable, init))
            if frame.empty:
                continue
            if unit != native:  # else the published values and dtypes as they are
                values = {name: frame[name].to_numpy() for name in columns}
                frame = frame.assign(**fr.to_display(values, native, unit, columns))
            parts.append(frame.assign(units=unit, valid_local=frame["valid_time"].dt.tz_convert(zone)))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def members(
        self,
        point: str | Point,
        variable: str = "temperature_2m",
        *,
        sources: Sources = None,
        init: InitRef = None,
        units: str | None = None,
        tz: str | None = None,
    ) -> pd.DataFrame:
        """Every member and lead of one point (``points.parquet`` rows), one block per source.

        Empty when the point has no forecast yet (configured after the latest run)."""
        return self._frames("members", point, variable, sources, init, units, tz)

    def summary(
        self,
        point: str | Point,
        variable: str = "temperature_2m",
        *,
        sources: Sources = None,
        init: InitRef = None,
        units: str | None = None,
        tz: str | None = None,
    ) -> pd.DataFrame:
        """The ensemble statistics per lead (``ensemble_summary.parquet`` rows: min, q10 … max,
        mean, member_count, grid cell, is_ingested), one block per source."""
        return self._frames("summary", point, variable, sources, init, units, tz)

    def _statistic(self, variable: str, statistic: Statistic | None) -> Statistic:
        """The daily reduction: ``statistic`` if given, else the first one the meteogram draws."""
        canonical = self.canonical(variable)
        if statistic is None:
            return daily_statistics(canonical.kind, canonical.is_running_total(variable))[0]
        if statistic not in STATISTICS:
            raise ValueError(f"statistic is one of {choices_text(STATISTICS)}, not {statistic!r}")
        return statistic

    def daily(
        self,
        point: str | Point,
        variable: str = "temperature_2m",
        *,
        statistic: Statistic | None = None,
        sources: Sources = None,
        init: InitRef = None,
        units: str | None = None,
        tz: str | None = None,
    ) -> pd.DataFrame:
        """The meteogram's daily boxes: per source and LOCAL day, the statistics (min, q10 … max,
        mean, member_count) of the members' daily ``statistic`` ('sum', 'max', 'min', 'last';
        default: the meteogram's — daily totals of precipitation, highs of temperature and wind,
        end-of-day running totals). ``valid_time`` is the day's middle (UTC), ``day`` its date."""
        chosen = self.point(point)
        zone = self.zone(chosen, tz)
        reduction = self._statistic(variable, statistic)
        members = self.members(chosen, variable, sources=sources, init=init, units=units, tz=tz)
        parts = []
        for source_id, rows in members.groupby("source_id", sort=False) if not members.empty else []:
            frame = daily_summary(rows, reduction, zone)
            if frame.empty:
                continue
            local = frame["valid_time"].dt.tz_convert(zone)
            frame = frame.assign(source_id=source_id, day=local.dt.date, valid_local=local)
            parts.append(frame.assign(units=str(rows["units"].iloc[0])))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def exceedance(
        self,
        point: str | Point,
        variable: str,
        threshold: float,
        *,
        per: Literal["day", "step"] = "day",
        statistic: Statistic | None = None,
        sources: Sources = None,
        init: InitRef = None,
        units: str | None = None,
        tz: str | None = None,
    ) -> pd.DataFrame:
        """P(value > ``threshold``) in % per source: per LOCAL day of the members' daily
        ``statistic`` (``per="day"``: the meteogram's probability strip), or per valid time
        (``per="step"``). Only members with a value count; a day or lead none has is left out.
        ``threshold`` is in ``units`` (the native unit when None)."""
        if per not in ("day", "step"):
            raise ValueError(f"per is 'day' or 'step', not {per!r}")
        chosen = self.point(point)
        zone = self.zone(chosen, tz)
        reduction = self._statistic(variable, statistic)
        members = self.members(chosen, variable, sources=sources, init=init, units=units, tz=tz)
        parts = []
        for source_id, rows in members.groupby("source_id", sort=False) if not members.empty else []:
            found = _exceedance_rows(rows, float(threshold), per, reduction, zone)
            parts.append(found.assign(source_id=source_id))
        columns = ["source_id", "valid_time", "probability", "member_count"]
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
        frame = frame.assign(threshold=float(threshold), units=self.unit_of(variable, units))
        if frame.empty:
            return frame.assign(valid_local=pd.Series(dtype=f"datetime64[ns, {zone}]"))
        return frame.assign(valid_local=frame["valid_time"].dt.tz_convert(zone))

    def dataset(
        self,
        point: str | Point,
        variable: str = "temperature_2m",
        source: str | None = None,
        *,
        init: InitRef = None,
        units: str | None = None,
        tz: str | None = None,
    ) -> xr.Dataset:
        """One source's members as an ``xarray.Dataset``: ``variable`` over (member, valid_time),
        the statistics over valid_time, ``lead_hours`` and ``valid_local`` as coordinates.
        ``source`` may be omitted when the run has one source."""
        from forecast_panel.explore_xarray import to_dataset

        if source is None:
            ids = self.source_ids()
            if len(ids) != 1:
                raise ValueError(f"name a source: the run has {choices_text(ids)} (or use datasets())")
            source = ids[0]
        chosen = self.point(point)
        members = self.members(chosen, variable, sources=source, init=init, units=units, tz=tz)
        summary = self.summary(chosen, variable, sources=source, init=init, units=units, tz=tz)
        return to_dataset(members, summary, variable=variable, point=chosen, run_id=self.datastore.run_id)

    def datasets(
        self, point: str | Point, variable: str = "temperature_2m", sources: Sources = None, **options: Any
    ) -> dict[str, xr.Dataset]:
        """``dataset`` per source (sources differ in members and valid times), keyed by source id."""
        return {
            source_id: self.dataset(point, variable, source_id, **options) for source_id in self.source_ids(sources)
        }

    # --- plots ---------------------------------------------------------------------------------

    @property
    def plot(self) -> Plots:
        """The plots of this store (also reachable as ``store.meteogram`` and friends); the first
        use loads the app's Panel and HoloViews extensions (in a notebook: the JavaScript)."""
        from forecast_panel.app import load_extensions
        from forecast_panel.explore_plots import Plots

        load_extensions()
        return Plots(self)

    def meteogram(self, point: str | Point, panels: str | Sequence[str] | None = None, **choices: Any) -> Any:
        """The dashboard's meteogram of one point: its own Panel ``Viewer`` (see ``Plots.meteogram``)."""
        return self.plot.meteogram(point, panels, **choices)

    def boxplot(self, point: str | Point, variable: str = "temperature_2m", **options: Any) -> Any:
        """hvplot boxes of the members per valid time (local time), one plot per source."""
        return self.plot.boxplot(point, variable, **options)

    def exceedance_plot(self, point: str | Point, variable: str, threshold: float, **options: Any) -> Any:
        """The exceedance probability per source: a heat strip per local day, or lines per step."""
        return self.plot.exceedance(point, variable, threshold, **options)

    def map(self, variable: str = "temperature_2m", **options: Any) -> Any:
        """GeoViews map of the map summary around the points, with the points on it."""
        return self.plot.map(variable, **options)


def open_store(url: str | None = None, *, manifest_ttl_seconds: float = 30.0) -> ForecastStore:
    """Open the artifact store at ``url`` (a local folder, ``s3://bucket/prefix``; default
    ``$FORECAST_STORE_URL``) for exploring. Nothing is read until a method asks."""
    url = url or os.environ.get("FORECAST_STORE_URL")
    if not url:
        raise ValueError("give a store URL (or set FORECAST_STORE_URL)")
    return ForecastStore(DataStore(url, manifest_ttl_seconds=manifest_ttl_seconds))
