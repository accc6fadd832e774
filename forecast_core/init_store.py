"""Seeding a store's ``dashboard/config/`` files, and reading config files given on a command line
(the ``init-store`` subcommand is ``forecast_cli.init_store``).

``init_store`` writes the source registry (the given file, else the production one), the canonical variables
(the given file, else the packaged dictionary) and the default points. Existing points are kept
unless ``--reset-points``: a store's points belong to its users.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import ValidationError

from forecast_core import defaults
from forecast_core.base import MAX_CONFIG_BYTES, validation_summary
from forecast_core.layout import CANONICAL_VARIABLES_KEY, PRE_CANNED_POINTS_KEY, SOURCE_REGISTRY_KEY
from forecast_core.points import PreCannedPoints
from forecast_core.registry import CanonicalVariables, SourceRegistry
from forecast_core.store import ArtifactStore

log = logging.getLogger(__name__)


class ConfigFileError(ValueError):
    """A config file given on the command line is missing or invalid."""


def load_registry_file(path: str | Path) -> SourceRegistry:
    """Read and validate a source registry JSON file; ConfigFileError explains a bad one."""
    return _load(Path(path), SourceRegistry)


def load_variables_file(path: str | Path) -> CanonicalVariables:
    return _load(Path(path), CanonicalVariables)


def load_points_file(path: str | Path) -> PreCannedPoints:
    return _load(Path(path), PreCannedPoints)


def _load[M: (SourceRegistry, CanonicalVariables, PreCannedPoints)](path: Path, model: type[M]) -> M:
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigFileError(
                f"{path} is {size / 2**20:.1f} MiB; at most {MAX_CONFIG_BYTES / 2**20:.0f} MiB is read"
            )
        data = path.read_bytes()
    except OSError as error:
        raise ConfigFileError(f"cannot read {path}: {error.strerror or error}") from error
    try:
        return model.model_validate_json(data)
    except ValidationError as error:
        raise ConfigFileError(f"{path} is not a valid {model.__name__}: {validation_summary(error)}") from error


def init_store(
    store: ArtifactStore,
    registry: SourceRegistry | None = None,
    variables: CanonicalVariables | None = None,
    points: PreCannedPoints | None = None,
    *,
    reset_points: bool = False,
) -> list[str]:
    """Write the config files; returns the keys written."""
    written = []
    store.write_model(SOURCE_REGISTRY_KEY, registry or defaults.production_source_registry())
    written.append(SOURCE_REGISTRY_KEY)
    store.write_model(CANONICAL_VARIABLES_KEY, variables or defaults.canonical_variables())
    written.append(CANONICAL_VARIABLES_KEY)
    if reset_points or points is not None or not store.exists(PRE_CANNED_POINTS_KEY):
        store.write_model(PRE_CANNED_POINTS_KEY, points or defaults.default_points())
        written.append(PRE_CANNED_POINTS_KEY)
    else:
        store.read_model(PRE_CANNED_POINTS_KEY, PreCannedPoints)  # existing file must be valid
        log.info("kept the store's existing %s", PRE_CANNED_POINTS_KEY)
    return written
