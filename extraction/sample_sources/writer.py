"""Write sample stores: Icechunk 2 repositories (default) or plain Zarr v3, local or on S3.

Array metadata is the template's, byte for byte, except the lengths of ``init_time`` and
(in the small variant) ``ensemble_member``. Data are written only inside the sample region;
every other chunk stays absent, i.e. NaN, exactly as a never-written region of a real store.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import zarr
import zarr.storage
from zarr.abc.store import Store
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

from extraction.sample_sources import synthetic
from extraction.sample_sources.templates import DatasetFacts, array_metadata, root_attributes
from forecast_core.grid import LatLonBox

# Local Icechunk repositories warn on every commit that they are single-writer; the sample
# writer is the only writer, so keep its console readable unless the user asks for more.
os.environ.setdefault("ICECHUNK_LOG", "error")
log = logging.getLogger(__name__)
StoreFormat = Literal["icechunk", "zarr"]


US_ROCKIES = LatLonBox(south=36.5, north=41.5, west=-109.5, east=-103.5)
TINY_REGION = LatLonBox(south=39.0, north=40.5, west=-107.0, east=-105.0)


@dataclass(frozen=True, slots=True)
class SampleSpec:
    """What to write for one dataset."""

    facts: DatasetFacts
    region: LatLonBox
    init_dates: tuple[date, ...]
    member_count: int


def grid_latitude() -> npt.NDArray[np.float64]:
    return np.linspace(90.0, -90.0, 721)


def grid_longitude() -> npt.NDArray[np.float64]:
    return np.arange(1440, dtype=np.float64) * 0.25 - 180.0


def _region_slices(region: LatLonBox) -> tuple[slice, slice]:
    lat = grid_latitude()
    lon = grid_longitude()
    lat_idx = np.nonzero((lat <= region.north + 1e-9) & (lat >= region.south - 1e-9))[0]
    lon_idx = np.nonzero((lon >= region.west - 1e-9) & (lon <= region.east + 1e-9))[0]
    return slice(int(lat_idx[0]), int(lat_idx[-1]) + 1), slice(int(lon_idx[0]), int(lon_idx[-1]) + 1)


def _set_json(store: Store, key: str, document: dict[str, Any]) -> None:
    buffer = default_buffer_prototype().buffer.from_bytes(json.dumps(document, indent=2).encode())
    sync(store.set(key, buffer))


def write_metadata(store: Store, spec: SampleSpec) -> None:
    """Root group and every array's zarr.json, from the template with this sample's lengths."""
    _set_json(
        store,
        "zarr.json",
        {"zarr_format": 3, "node_type": "group", "attributes": root_attributes(spec.facts.dataset_id)},
    )
    sizes = {"init_time": len(spec.init_dates), "ensemble_member": spec.member_count}
    for name, meta in array_metadata(spec.facts.dataset_id).items():
        dims = meta.get("dimension_names") or []
        meta["shape"] = [sizes.get(dim, length) for dim, length in zip(dims, meta["shape"], strict=True)]
        _set_json(store, f"{name}/zarr.json", meta)


def _epoch_seconds(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _array(root: zarr.Group, name: str) -> zarr.Array:
    node = root[name]
    if not isinstance(node, zarr.Array):
        raise TypeError(f"{name} is not an array")
    return node


class _Arrays:
    """Item access to a group's arrays, typed as arrays."""

    def __init__(self, root: zarr.Group):
        self.root = root

    def __getitem__(self, name: str) -> zarr.Array:
        return _array(self.root, name)


def write_coordinates(store: Store, spec: SampleSpec) -> None:
    facts = spec.facts
    inits = np.array([_epoch_seconds(day) for day in spec.init_dates], dtype=np.int64)
    lead_seconds = facts.lead_hours * 3600.0
    root = _Arrays(zarr.open_group(store, mode="r+"))
    root["init_time"][:] = inits
    root["lead_time"][:] = lead_seconds
    root["latitude"][:] = grid_latitude()
    root["longitude"][:] = grid_longitude()
    root["ensemble_member"][:] = np.arange(spec.member_count, dtype=np.int16)
    root["valid_time"][:] = inits[:, None] + lead_seconds.astype(np.int64)[None, :]
    root["expected_forecast_length"][:] = np.full(inits.size, lead_seconds[-1])
    root["spatial_ref"][...] = np.int64(0)
    ingested = np.full(inits.size, lead_seconds[-1])
    if facts.partial_newest_lead_hours is not None:
        ingested[-1] = facts.partial_newest_lead_hours * 3600.0
    ingested_array = root["ingested_forecast_length"]
    if ingested_array.ndim == 2:  # GEFS: per (init, member)
        ingested_array[:] = np.repeat(ingested[:, None], spec.member_count, axis=1)
    else:  # IFS ENS: per init
        ingested_array[:] = ingested


def _store_variable_fields(
    facts: DatasetFacts, fields: dict[str, synthetic.FloatArray]
) -> dict[str, synthetic.FloatArray]:
    out = {
        "temperature_2m": fields["temperature_2m"],
        "precipitation_surface": fields["precip_rate"],
        "wind_u_10m": fields["wind_u_10m"],
        "wind_v_10m": fields["wind_v_10m"],
    }
    if "categorical_snow_surface" in facts.sample_variables:
        out.update(synthetic.gefs_snow_fields(fields, facts.lead_hours))
    if "categorical_precipitation_type_surface" in facts.sample_variables:
        out["categorical_precipitation_type_surface"] = synthetic.ifs_precipitation_type(fields)
    return {name: out[name] for name in facts.sample_variables}


def write_data(store: Store, spec: SampleSpec) -> None:
    """Synthetic values for the sample variables inside the region, one init at a time."""
    facts = spec.facts
    lat_slice, lon_slice = _region_slices(spec.region)
    root = _Arrays(zarr.open_group(store, mode="r+"))
    for init_index, day in enumerate(spec.init_dates):
        grid = synthetic.FieldGrid(
            init_epoch_seconds=_epoch_seconds(day),
            lead_hours=facts.lead_hours,
            latitude=grid_latitude()[lat_slice],
            longitude=grid_longitude()[lon_slice],
            member_count=spec.member_count,
        )
        seed = int.from_bytes(f"{facts.dataset_id}|{day.isoformat()}".encode()[-8:], "little")
        fields = synthetic.generate_fields(grid, seed=seed, day_of_year=day.timetuple().tm_yday)
        newest = init_index == len(spec.init_dates) - 1
        cutoff = facts.partial_newest_lead_hours if newest else None
        for name, values in _store_variable_fields(facts, fields).items():
            if cutoff is not None:
                values = values.copy()
                values[:, facts.lead_hours > cutoff] = np.nan
            array = root[name]
            dims = [str(dim) for dim in getattr(array.metadata, "dimension_names", None) or []]
            canonical = ["ensemble_member", "lead_time", "latitude", "longitude"]
            ordered = np.transpose(values, [canonical.index(dim) for dim in dims[1:]])
            array[init_index, ..., lat_slice, lon_slice] = ordered


def write_sample_dataset(store: Store, spec: SampleSpec) -> None:
    write_metadata(store, spec)
    write_coordinates(store, spec)
    write_data(store, spec)


def _icechunk_storage(url: str, endpoint_url: str | None) -> Any:
    import icechunk

    if url.startswith("s3://"):
        bucket, _, prefix = url[5:].partition("/")
        return icechunk.s3_storage(
            bucket=bucket,
            prefix=prefix or None,
            endpoint_url=endpoint_url,
            allow_http=bool(endpoint_url and endpoint_url.startswith("http://")),
            force_path_style=bool(endpoint_url),
            from_env=True,
        )
    return icechunk.local_filesystem_storage(url)


def write_store(url: str, spec: SampleSpec, store_format: StoreFormat, endpoint_url: str | None = None) -> None:
    """Create (replacing) one sample store at ``url`` (a folder or ``s3://bucket/prefix``)."""
    if not url.startswith("s3://") and Path(url).exists():
        shutil.rmtree(url)
    if store_format == "icechunk":
        import icechunk

        repo = icechunk.Repository.create(_icechunk_storage(url, endpoint_url))
        session = repo.writable_session("main")
        write_sample_dataset(session.store, spec)
        session.commit(f"forecast-panel sample data: {len(spec.init_dates)} inits of {spec.facts.dataset_id}")
        return
    zarr_store: Store
    if url.startswith("s3://"):
        options: dict[str, Any] = {"client_kwargs": {"endpoint_url": endpoint_url}} if endpoint_url else {}
        zarr_store = zarr.storage.FsspecStore.from_url(url, storage_options=options, read_only=False)
    else:
        zarr_store = zarr.storage.LocalStore(url, read_only=False)
    write_sample_dataset(zarr_store, spec)
    zarr.consolidate_metadata(zarr_store)


def default_init_dates(count: int, newest: date | None = None) -> tuple[date, ...]:
    """``count`` consecutive daily 00 UTC inits ending at ``newest`` (today, UTC, by default)."""
    newest = newest or datetime.now(UTC).date()
    return tuple(newest - timedelta(days=offset) for offset in range(count - 1, -1, -1))


ProgressCallback = Callable[[str], None]
