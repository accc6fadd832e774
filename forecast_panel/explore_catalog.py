"""The catalog half of the exploration API: what a store published, and resolving names.

``StoreCatalog`` lists runs (following each manifest's ``previous_run_id``), sources, variables,
points and inits, reads status and inventory, and turns the names a user types into ids. It
reads through the app's ``DataStore`` only (see ``forecast_panel.explore`` for the contract);
``ForecastStore`` adds the data and the plots.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from forecast_core import layout
from forecast_core.points import Point, name_dedupe_key
from forecast_core.registry import CanonicalVariable, SourceRegistry
from forecast_core.status import ExtractionStatus, InventoryStatus, RunManifest
from forecast_core.store import ArtifactNotFound
from forecast_core.units import convertible
from forecast_panel.data import DataStore
from forecast_panel.localtime import zone_at
from forecast_panel.selection import UNIT_SYSTEMS

InitRef = date | str | None


class NotInStore(LookupError):
    """A point, source, variable, init or run the store does not have (the message lists what it has)."""


def choices_text(values: Sequence[str]) -> str:
    shown = ", ".join(repr(value) for value in list(values)[:20])
    return shown + (" …" if len(values) > 20 else "") if values else "none"


def time_zone(tz: str) -> str:
    """``tz`` checked as an IANA zone name (ValueError naming the mistake otherwise)."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise ValueError(f"unknown time zone {tz!r}: give an IANA name such as 'America/Denver'") from error
    return tz


class StoreCatalog:
    """What a store published: runs, sources, variables, points, inits, status (see ``explore``)."""

    def __init__(self, datastore: DataStore) -> None:
        self.datastore = datastore

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.datastore.store.url} run={self.datastore.run_id}>"

    def refresh(self) -> str | None:
        """Re-read ``latest.json`` now (instead of after the 30 s TTL); returns the run id."""
        manifest = self.datastore.manifest(force=True)
        return manifest.run_id if manifest else None

    # --- what the store holds ------------------------------------------------------------------

    def manifest(self, run_id: str | None = None) -> RunManifest:
        """The latest run's manifest, or run ``run_id``'s (read from ``manifests/run_id=….json``)."""
        latest = self.datastore.manifest()
        if latest is None:
            raise NotInStore(f"{self.datastore.store.url}: no run has been published yet")
        if run_id is None or run_id == latest.run_id:
            return latest
        try:
            return self.datastore.store.read_model(layout.run_manifest_key(run_id), RunManifest)
        except ArtifactNotFound:
            raise NotInStore(f"no manifest of run {run_id!r} in {self.datastore.store.url}") from None

    def sources(self) -> pd.DataFrame:
        """One row per published source: name, colour, init, partial or not, members, snapshot."""
        manifest = self.manifest()
        entries = {entry.source_id: entry for entry in (self._registry_entries())}
        rows = []
        for info in manifest.sources:
            entry = entries.get(info.source_id)
            rows.append(
                {
                    "source_id": info.source_id,
                    "display_name": entry.display_name if entry else info.source_id,
                    "color": entry.color if entry else "#1f77b4",
                    "init_time": info.init_time,
                    "is_partial": info.is_partial,
                    "ingested_lead_hours": info.ingested_lead_hours,
                    "expected_lead_hours": info.expected_lead_hours,
                    "member_count": info.member_count,
                    "snapshot_id": info.snapshot_id,
                }
            )
        order = list(entries)
        frame = pd.DataFrame(rows)
        rank = frame["source_id"].map(lambda sid: order.index(sid) if sid in order else len(order))
        return frame.assign(_rank=rank).sort_values(["_rank", "source_id"]).drop(columns="_rank").reset_index(drop=True)

    def _registry_entries(self) -> list[Any]:
        registry = self.datastore.registry()
        return list(registry.sources) if registry else []

    def registry(self) -> SourceRegistry:
        """The store's source registry (where each raw source lives and how to open it)."""
        registry = self.datastore.registry()
        if registry is None:
            raise NotInStore(f"{self.datastore.store.url} has no {layout.SOURCE_REGISTRY_KEY}")
        return registry

    def variables(self) -> pd.DataFrame:
        """The canonical variables (running totals included) with their units and thresholds."""
        dictionary = self.datastore.variables()
        manifest = self.datastore.manifest()
        published = {artifact.variable_id for artifact in manifest.artifacts} if manifest else set()
        rows = []
        for variable_id in dictionary.output_variable_ids():
            variable = dictionary.get(variable_id)
            rows.append(
                {
                    "variable_id": variable_id,
                    "display_name": variable.display_name_of(variable_id),
                    "native_units": variable.native_units,
                    "display_units": list(variable.display_units),
                    "kind": "running total" if variable.is_running_total(variable_id) else variable.kind,
                    "exceedance_thresholds": list(variable.exceedance_thresholds),
                    "published": variable_id in published,
                }
            )
        return pd.DataFrame(rows)

    def points(self) -> pd.DataFrame:
        """The configured points, with ``has_forecast`` (listed by the latest run) per point."""
        manifest = self.datastore.manifest()
        ready = set(manifest.point_ids) if manifest else set()
        rows = [
            {
                "point_id": point.point_id,
                "point_name": point.point_name,
                "latitude": point.latitude,
                "longitude": point.longitude,
                "enabled": point.enabled,
                "has_forecast": point.point_id in ready,
                "tags": list(point.tags),
            }
            for point in self._configured_points()
        ]
        columns = ["point_id", "point_name", "latitude", "longitude", "enabled", "has_forecast", "tags"]
        return pd.DataFrame(rows, columns=columns)

    def _configured_points(self) -> list[Point]:
        configured = self.datastore.configured_points()
        return list(configured.points) if configured else []

    def point(self, ref: str | Point) -> Point:
        """A configured point by id or name (or the ``Point`` itself)."""
        if isinstance(ref, Point):
            return ref
        points = self._configured_points()
        for point in points:
            if point.point_id == ref:
                return point
        key = name_dedupe_key(ref)
        for point in points:
            if name_dedupe_key(point.point_name) == key:
                return point
        raise NotInStore(f"no point {ref!r}; the store has {choices_text([point.point_name for point in points])}")

    def inits(self, source: str | None = None, variable: str | None = None) -> pd.DataFrame:
        """The init dates the latest manifest lists per source and variable (newest first)."""
        manifest = self.manifest()
        source_id = self._source_id(source) if source else None
        rows = {
            (artifact.source_id, artifact.variable_id, artifact.init_date)
            for artifact in manifest.artifacts
            if (source_id is None or artifact.source_id == source_id)
            and (variable is None or artifact.variable_id == variable)
        }
        frame = pd.DataFrame(sorted(rows), columns=["source_id", "variable_id", "init_date"])
        return frame.sort_values(["source_id", "variable_id", "init_date"], ascending=[True, True, False]).reset_index(
            drop=True
        )

    def runs(self, limit: int = 20) -> pd.DataFrame:
        """The latest run and its predecessors (following ``previous_run_id``), newest first."""
        rows: list[dict[str, object]] = []
        run_id: str | None = self.manifest().run_id
        while run_id is not None and len(rows) < limit:
            try:
                manifest = self.manifest(run_id)
            except NotInStore:
                break  # older manifests may have been cleaned up
            rows.append(
                {
                    "run_id": manifest.run_id,
                    "created_utc": manifest.created_utc,
                    "previous_run_id": manifest.previous_run_id,
                    "sources": len(manifest.sources),
                    "points": len(manifest.point_ids),
                    "artifacts": len(manifest.artifacts),
                    "size_bytes": sum(artifact.size_bytes for artifact in manifest.artifacts),
                    "inits": ", ".join(f"{info.source_id} {info.init_time:%Y-%m-%d %H}Z" for info in manifest.sources),
                }
            )
            run_id = manifest.previous_run_id
        return pd.DataFrame(rows)

    def artifacts(self, run_id: str | None = None) -> pd.DataFrame:
        """The artifacts a run's manifest lists (key, kind, source, variable, init, size, sha256)."""
        manifest = self.manifest(run_id)
        return pd.DataFrame([artifact.model_dump() for artifact in manifest.artifacts])

    def status(self) -> ExtractionStatus | None:
        """``extraction_status.json``: the last run's outcome and errors (None before any run)."""
        return self.datastore.extraction_status()

    def inventory(self) -> InventoryStatus | None:
        """``inventory_status.json``: object count, bytes per prefix and estimated cost."""
        return self.datastore.inventory_status()

    def inventory_history(self) -> pd.DataFrame:
        """The storage trend (``inventory_history.jsonl``), one row per inventory run."""
        rows = [row.model_dump() for row in self.datastore.inventory_history()]
        columns = ["timestamp_utc", "object_count", "total_size_bytes", "estimated_monthly_storage_usd"]
        return pd.DataFrame(rows, columns=columns)

    # --- resolving names -----------------------------------------------------------------------

    def _source_id(self, ref: str) -> str:
        manifest = self.manifest()
        ids = [info.source_id for info in manifest.sources]
        if ref in ids:
            return ref
        names = {entry.display_name.casefold(): entry.source_id for entry in self._registry_entries()}
        found = names.get(ref.casefold())
        if found in ids:
            return found
        raise NotInStore(f"no published source {ref!r}; the latest run has {choices_text(ids)}")

    def source_ids(self, sources: str | Sequence[str] | None = None) -> list[str]:
        """Source ids in registry order (all published ones when ``sources`` is None)."""
        if sources is None:
            return list(self.sources()["source_id"])
        return [self._source_id(item) for item in ([sources] if isinstance(sources, str) else sources)]

    def canonical(self, variable: str) -> CanonicalVariable:
        """The canonical variable of ``variable`` (an id, running totals included)."""
        dictionary = self.datastore.variables()
        ids = dictionary.output_variable_ids()
        if variable not in ids:
            raise NotInStore(f"no variable {variable!r}; the store has {choices_text(ids)}")
        return dictionary.get(variable)

    def init_date(self, source_id: str, variable: str, init: InitRef) -> date | None:
        """The init date ``init`` names for (source, variable); None means the newest."""
        if init is None or init == "latest":
            return None
        dates = self.manifest().init_dates(source_id, variable)
        if init == "previous":
            if len(dates) < 2:
                raise NotInStore(f"{source_id}/{variable}: the latest run lists no init before {dates[:1]}")
            return dates[1]
        wanted = init if isinstance(init, date) else date.fromisoformat(init)
        if wanted not in dates:
            raise NotInStore(
                f"{source_id}/{variable}: no init {wanted}; listed: {choices_text([str(d) for d in dates])}"
            )
        return wanted

    def unit_of(self, variable_id: str, units: str | None) -> str:
        """The unit values of ``variable_id`` are shown in: the native unit (None), ``units`` if it
        converts from it, or a unit system's unit ('metric' / 'imperial', chosen as the dashboard
        chooses it: ``OverviewState.display_unit_of``); else a ValueError naming the choices."""
        variable = self.canonical(variable_id)
        if units is None:
            return variable.native_units
        if units in UNIT_SYSTEMS:
            from forecast_panel.state import OverviewState

            state = OverviewState(self.datastore)
            state.selection.units = units  # the system sets each variable's unit, as in the app
            return state.display_unit_of(variable_id)
        if not convertible(variable.native_units, units):
            raise ValueError(
                f"{variable_id} is in {variable.native_units}; choose units among {variable.display_units} "
                f"or a unit system ({', '.join(map(repr, UNIT_SYSTEMS))})"
            )
        return units

    def zone(self, point: str | Point, tz: str | None = None) -> str:
        """The IANA zone a point's local times are in: ``tz`` when given (checked), else the zone
        at the point's coordinates by the dashboard's rule (``forecast_panel.localtime.zone_at``)."""
        if tz is not None:
            return time_zone(tz)
        chosen = self.point(point)
        return zone_at(chosen.latitude, chosen.longitude)
