"""The configuration shipped with the package: production registry, variables, default points."""

from __future__ import annotations

from importlib import resources

from forecast_core.points import PreCannedPoints
from forecast_core.registry import CanonicalVariables, SourceRegistry

_CONFIG = resources.files("forecast_core") / "config"


def production_source_registry() -> SourceRegistry:
    """dynamical.org's GEFS 35-day and IFS ENS 15-day, resolved through the STAC catalog."""
    return SourceRegistry.model_validate_json((_CONFIG / "production_source_registry.json").read_bytes())


def pinned_icechunk_source_registry() -> SourceRegistry:
    """The same sources pinned to their Icechunk repositories (no STAC lookup)."""
    return SourceRegistry.model_validate_json((_CONFIG / "pinned_icechunk_source_registry.json").read_bytes())


def canonical_variables() -> CanonicalVariables:
    """temperature_2m, precipitation (+ total), snowfall (+ total), wind_speed_10m."""
    return CanonicalVariables.model_validate_json((_CONFIG / "canonical_variables.json").read_bytes())


def default_points() -> PreCannedPoints:
    """The points a new store starts with (US Rockies, inside the default sample region)."""
    return PreCannedPoints.model_validate_json((_CONFIG / "default_points.json").read_bytes())
