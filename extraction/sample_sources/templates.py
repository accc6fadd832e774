"""The real Zarr metadata of dynamical.org's datasets (see templates/PROVENANCE.md)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final

import numpy as np
import numpy.typing as npt

GEFS_DATASET_ID: Final = "noaa-gefs-forecast-35-day"
IFS_ENS_DATASET_ID: Final = "ecmwf-ifs-ens-forecast-15-day-0-25-degree"


@dataclass(frozen=True, slots=True)
class DatasetFacts:
    """Facts of one dataset that its template metadata does not carry as values."""

    dataset_id: str
    source_id: str
    display_name: str
    lead_hours: npt.NDArray[np.float64]
    member_count: int
    partial_newest_lead_hours: float | None  # GEFS: the newest init holds leads ≤ 384 h only
    sample_variables: tuple[str, ...]


def _leads(fine_end: int, fine_step: int, coarse_end: int, coarse_step: int) -> npt.NDArray[np.float64]:
    fine = np.arange(0, fine_end + 1, fine_step)
    coarse = np.arange(fine_end + coarse_step, coarse_end + 1, coarse_step)
    return np.concatenate([fine, coarse]).astype(np.float64)


DATASETS: Final[dict[str, DatasetFacts]] = {
    GEFS_DATASET_ID: DatasetFacts(
        dataset_id=GEFS_DATASET_ID,
        source_id="gefs",
        display_name="NOAA GEFS (35-day) — sample",
        lead_hours=_leads(240, 3, 840, 6),
        member_count=31,
        partial_newest_lead_hours=384.0,
        sample_variables=(
            "temperature_2m",
            "precipitation_surface",
            "categorical_snow_surface",
            "percent_frozen_precipitation_surface",
            "wind_u_10m",
            "wind_v_10m",
        ),
    ),
    IFS_ENS_DATASET_ID: DatasetFacts(
        dataset_id=IFS_ENS_DATASET_ID,
        source_id="ecmwf_ifs_ens",
        display_name="ECMWF IFS ENS (15-day) — sample",
        lead_hours=_leads(144, 3, 360, 6),
        member_count=51,
        partial_newest_lead_hours=None,
        sample_variables=(
            "temperature_2m",
            "precipitation_surface",
            "categorical_precipitation_type_surface",
            "wind_u_10m",
            "wind_v_10m",
        ),
    ),
}


@cache
def _root_metadata(dataset_id: str) -> dict[str, Any]:
    text = (resources.files("extraction.sample_sources") / "templates" / f"{dataset_id}.zarr.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def root_attributes(dataset_id: str) -> dict[str, Any]:
    """The dataset's root group attributes."""
    return copy.deepcopy(_root_metadata(dataset_id)["attributes"])


def array_metadata(dataset_id: str) -> dict[str, dict[str, Any]]:
    """Zarr v3 metadata of every array of the dataset, keyed by array name (deep copies)."""
    return copy.deepcopy(_root_metadata(dataset_id)["consolidated_metadata"]["metadata"])
