"""What one run extracts: config loading, --sources/--variables/--points, and the run's bounds.

Exceeding a bound (points, variables, sources per run) raises RunFailed("limit_exceeded"): the
run fails loudly instead of truncating.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, Protocol

from forecast_core.base import MAX_CONFIG_BYTES
from forecast_core.layout import CANONICAL_VARIABLES_KEY, PRE_CANNED_POINTS_KEY, SOURCE_REGISTRY_KEY
from forecast_core.points import Point, PreCannedPoints, point_set_hash
from forecast_core.registry import CanonicalVariable, CanonicalVariables, SourceEntry, SourceRegistry
from forecast_core.store import ArtifactStore, InvalidArtifact, StoreError

__all__ = ["RunFailed", "Selection", "load_config", "point_set_hash", "select"]


class SelectOptions(Protocol):
    """The command-line choices ``select`` reads (``RunOptions`` has them)."""

    @property
    def sources(self) -> Sequence[str] | None: ...
    @property
    def variables(self) -> Sequence[str] | None: ...
    @property
    def point_ids(self) -> Sequence[str] | None: ...
    @property
    def max_points(self) -> int | None: ...


ErrorKind = Literal["store_unreachable", "invalid_config", "limit_exceeded", "internal"]


class RunFailed(RuntimeError):
    """The run as a whole cannot proceed (config unreadable, a bound exceeded)."""

    def __init__(self, kind: ErrorKind, message: str):
        super().__init__(message)
        self.kind = kind


def load_config(
    store: ArtifactStore, registry_override: SourceRegistry | None = None
) -> tuple[SourceRegistry, CanonicalVariables, PreCannedPoints]:
    """The store's registry (or ``registry_override``), canonical variables and points, read
    concurrently (one round trip, not three)."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        reads = [
            pool.submit(store.read_model, key, model, MAX_CONFIG_BYTES)
            for key, model in ((SOURCE_REGISTRY_KEY, SourceRegistry), (CANONICAL_VARIABLES_KEY, CanonicalVariables),
                               (PRE_CANNED_POINTS_KEY, PreCannedPoints))
            if not (model is SourceRegistry and registry_override)
        ]  # fmt: skip
    try:
        found = [read.result() for read in reads]
    except InvalidArtifact as error:
        raise RunFailed("invalid_config", f"invalid config, nothing extracted: {error}") from error
    except StoreError as error:
        raise RunFailed("store_unreachable", f"cannot read the store's config: {error}") from error
    *read_registry, variables, points = found
    registry = registry_override or read_registry[0]
    assert isinstance(registry, SourceRegistry) and isinstance(variables, CanonicalVariables)
    assert isinstance(points, PreCannedPoints)
    return registry, variables, points


@dataclass(frozen=True, slots=True)
class Selection:
    """What a run extracts."""

    sources: list[SourceEntry]
    variables: list[CanonicalVariable]
    wanted: set[str]  # output variable ids (a variable and/or its running total)
    enabled: list[Point]  # every enabled point (the map region and point-set hash)
    selected: list[Point]  # the points this run extracts


def select(
    registry: SourceRegistry,
    variables: CanonicalVariables,
    points: PreCannedPoints,
    options: SelectOptions,
) -> Selection:
    """Apply --sources/--variables/--points and check the run's bounds (RunFailed otherwise)."""
    sources = registry.enabled_sources()
    if options.sources:
        known = {s.source_id for s in registry.sources}
        unknown = sorted(set(options.sources) - known)
        if unknown:
            raise RunFailed("internal", f"unknown sources {unknown}; registry has {sorted(known)}")
        sources = [s for s in registry.sources if s.source_id in options.sources]
    wanted = set(variables.output_variable_ids())
    if options.variables:
        unknown = sorted(set(options.variables) - wanted)
        if unknown:
            raise RunFailed("internal", f"unknown variables {unknown}; known: {sorted(wanted)}")
        wanted = set(options.variables)
    chosen_vars = [
        v
        for v in variables.variables
        if v.variable_id in wanted or (v.running_total and v.running_total.variable_id in wanted)
    ]
    enabled = points.enabled_points()
    if options.point_ids:
        by_id = {p.point_id: p for p in points.points}
        unknown = sorted(set(options.point_ids) - set(by_id))
        if unknown:
            raise RunFailed("internal", f"unknown point ids {unknown}")
        selected = [by_id[i] for i in dict.fromkeys(options.point_ids)]
    else:
        selected = enabled
    limits = registry.extraction_limits
    max_points = min(limits.max_points, options.max_points or limits.max_points)
    if len(selected) > max_points:
        raise RunFailed("limit_exceeded", f"{len(selected)} points requested; the limit is {max_points}")
    if len(wanted) > limits.max_variables:
        raise RunFailed("limit_exceeded", f"{len(wanted)} variables; the limit is {limits.max_variables}")
    if len(sources) > limits.max_sources:
        raise RunFailed("limit_exceeded", f"{len(sources)} sources; the limit is {limits.max_sources}")
    return Selection(sources, chosen_vars, wanted, enabled, selected)
