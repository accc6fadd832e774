"""Exploring published forecasts from Python: the public API the notebooks import.

::

    import forecast_panel as fp

    store = fp.open_store("demo-data/store")  # a local folder or s3://bucket/prefix
    store.points()  # names, ids, positions, whether a forecast exists
    frame = store.members("Boulder Flatirons", "temperature_2m", units="degF", tz="America/Denver")
    store.meteogram("Boulder Flatirons")  # the dashboard's own overview, inline
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
  value columns: the variable's native unit unless ``units`` is given) and, when ``tz`` (an IANA
  zone such as ``"America/Denver"``) is given, ``valid_local``. Times are UTC.
- Unknown names raise ``NotInStore`` (a ``LookupError``) naming what the store has.

Plots (``meteogram``, ``boxplot``, ``exceedance_plot``, ``map``) live in
``forecast_panel.explore_plots``; this module only reads and shapes frames.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from forecast_core.points import Point
from forecast_panel import frames as fr
from forecast_panel.data import DataStore
from forecast_panel.explore_catalog import InitRef, NotInStore, StoreCatalog, choices_text, time_zone

if TYPE_CHECKING:
    import xarray as xr

    from forecast_panel.explore_plots import Plots

__all__ = ["ForecastStore", "InitRef", "NotInStore", "open_store"]


class ForecastStore(StoreCatalog):
    """What one artifact store published, read as the dashboard reads it (see the module doc)."""

    # --- data ----------------------------------------------------------------------------------

    def _frames(
        self,
        kind: Literal["members", "summary"],
        point: str | Point,
        variable: str,
        sources: str | Sequence[str] | None,
        init: InitRef,
        units: str | None,
        tz: str | None,
    ) -> pd.DataFrame:
        chosen = self.point(point)
        canonical = self.canonical(variable)
        unit = self.unit_of(canonical, units)
        zone = time_zone(tz)
        read = self.datastore.members if kind == "members" else self.datastore.summary
        columns = ["value"] if kind == "members" else list(fr.STAT_COLUMNS)
        parts = []
        for source_id in self.source_ids(sources):
            frame = read(source_id, variable, chosen.point_id, self.init_date(source_id, variable, init))
            if frame.empty:
                continue
            if unit != canonical.native_units:  # else the published values and dtypes as they are
                frame = fr.to_display(frame, canonical.native_units, unit, columns)
            frame = frame.assign(units=unit)
            if zone is not None:
                frame["valid_local"] = frame["valid_time"].dt.tz_convert(zone)
            parts.append(frame)
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def members(
        self,
        point: str | Point,
        variable: str = "temperature_2m",
        *,
        sources: str | Sequence[str] | None = None,
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
        sources: str | Sequence[str] | None = None,
        init: InitRef = None,
        units: str | None = None,
        tz: str | None = None,
    ) -> pd.DataFrame:
        """The ensemble statistics per lead (``ensemble_summary.parquet`` rows: min, q10 … max,
        mean, member_count, grid cell, is_ingested), one block per source."""
        return self._frames("summary", point, variable, sources, init, units, tz)

    def exceedance(
        self,
        point: str | Point,
        variable: str,
        threshold: float,
        *,
        sources: str | Sequence[str] | None = None,
        init: InitRef = None,
        units: str | None = None,
        tz: str | None = None,
    ) -> pd.DataFrame:
        """P(value > ``threshold``) in % per source and valid time, by the dashboard's rule
        (``frames.exceedance``: members with data at that lead; a lead with none is left out).
        ``threshold`` is in ``units`` (the native unit when None)."""
        members = self.members(point, variable, sources=sources, init=init, units=units)
        parts = []
        for source_id, rows in members.groupby("source_id", sort=False) if not members.empty else []:
            item = fr.SourceFrame(str(source_id), str(source_id), "", summary=pd.DataFrame(), members=rows)
            bars = fr.exceedance([item], float(threshold))
            valid = pd.to_datetime(bars["valid"]).dt.tz_localize("UTC").astype(rows["valid_time"].dtype)
            parts.append(
                pd.DataFrame({"source_id": source_id, "valid_time": valid, "probability": bars["probability"]})
            )
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["source_id", "valid_time"])
        frame = frame.assign(threshold=float(threshold), units=self.unit_of(self.canonical(variable), units))
        zone = time_zone(tz)
        if zone is not None and not frame.empty:
            frame["valid_local"] = frame["valid_time"].dt.tz_convert(zone)
        return frame

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
        the statistics over valid_time, ``lead_hours`` (and ``valid_local``) as coordinates.
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
        self,
        point: str | Point,
        variable: str = "temperature_2m",
        sources: str | Sequence[str] | None = None,
        **options: Any,
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

    def meteogram(self, point: str | Point, variable: str | None = None, **options: Any) -> Any:
        """The dashboard's Forecast Overview of one point, as the same Panel/Bokeh objects."""
        return self.plot.meteogram(point, variable, **options)

    def boxplot(self, point: str | Point, variable: str = "temperature_2m", **options: Any) -> Any:
        """hvplot boxes of the members per valid time, one plot per source."""
        return self.plot.boxplot(point, variable, **options)

    def exceedance_plot(self, point: str | Point, variable: str, threshold: float, **options: Any) -> Any:
        """hvplot of the exceedance probability per source."""
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
