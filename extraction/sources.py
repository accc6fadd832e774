"""Where a registry source lives (Icechunk, plain Zarr v3, or STAC id) and opening it as a lazy
xarray Dataset for notebooks, smoke queries and the benchmarks' baselines.

The pipeline reads sources through ``extraction.source_io`` (Zarr directly) with the same storage
settings (``icechunk_storage``, ``zarr_storage_options``); one code path for production and
samples: only the location in the registry differs. Nothing about dims, members or leads comes
from config. xarray is imported only when a dataset is opened.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from extraction.stac import resolve_stac
from forecast_core.registry import IcechunkLocation, SourceEntry, StacLocation, ZarrLocation
from forecast_core.store import s3_endpoint_url, s3_storage_options

if TYPE_CHECKING:
    import xarray as xr

os.environ.setdefault("ICECHUNK_LOG", "error")
log = logging.getLogger(__name__)
StoreWrapper = Callable[[Any], Any]
"""Wraps the Zarr store a source is read through, e.g. to count its requests (``extraction.read_cost``)."""


class SourceUnavailable(RuntimeError):
    """The source's store cannot be reached or opened; the message names the source and URL."""


def icechunk_storage(location: IcechunkLocation) -> Any:
    """The Icechunk storage of a location (S3 with the store's endpoint conventions, HTTP, local)."""
    import icechunk

    url = location.url
    if url.startswith("s3://"):
        bucket, _, prefix = url[5:].partition("/")
        endpoint = s3_endpoint_url(location.endpoint_url)
        return icechunk.s3_storage(
            bucket=bucket,
            prefix=prefix or None,
            region=location.region,
            endpoint_url=endpoint,
            allow_http=bool(endpoint and endpoint.startswith("http://")),
            force_path_style=bool(endpoint),
            anonymous=location.anonymous or None,
            from_env=None if location.anonymous else True,
        )
    if url.startswith(("http://", "https://")):
        return icechunk.http_storage(url)
    return icechunk.local_filesystem_storage(url.removeprefix("file://"))


def open_icechunk(location: IcechunkLocation, chunks: Any = None, wrap: StoreWrapper | None = None) -> xr.Dataset:
    """Open the branch (or pinned snapshot) of an Icechunk repository read-only."""
    import icechunk
    import xarray as xr

    repo = icechunk.Repository.open(icechunk_storage(location))
    if location.snapshot_id:
        session = repo.readonly_session(snapshot_id=location.snapshot_id)
    else:
        session = repo.readonly_session(branch=location.branch)
    store = session.store if wrap is None else wrap(session.store)
    return xr.open_zarr(store, chunks=chunks, consolidated=False, decode_timedelta=True)


def _zarr_store(url: str, options: dict[str, Any] | None) -> Any:
    """The Zarr store of a plain Zarr v3 URL (what ``xr.open_zarr(url)`` builds itself)."""
    from zarr.storage import FsspecStore, LocalStore

    if "://" in url and not url.startswith("file://"):
        return FsspecStore.from_url(url, storage_options=options, read_only=True)
    return LocalStore(url.removeprefix("file://"), read_only=True)


def zarr_storage_options(location: ZarrLocation) -> dict[str, Any] | None:
    """fsspec options of a plain Zarr URL: the S3 endpoint, retries, region and anonymity."""
    if not location.url.startswith("s3://"):
        return None
    options = s3_storage_options(location.endpoint_url, anonymous=location.anonymous)
    if location.region:
        options.setdefault("client_kwargs", {})["region_name"] = location.region
    return options


def open_zarr(location: ZarrLocation, chunks: Any = None, wrap: StoreWrapper | None = None) -> xr.Dataset:
    """Open a plain Zarr v3 store (local path, s3:// or https://)."""
    import xarray as xr

    options = zarr_storage_options(location)
    if wrap is None:
        return xr.open_zarr(location.url, chunks=chunks, storage_options=options, decode_timedelta=True)
    return xr.open_zarr(wrap(_zarr_store(location.url, options)), chunks=chunks, decode_timedelta=True)


def open_source(entry: SourceEntry, chunks: Any = None, wrap: StoreWrapper | None = None) -> xr.Dataset:
    """Open ``entry``'s store lazily; SourceUnavailable on any failure to reach or open it.

    ``chunks=None`` (the default) builds no dask graph: callers index what they need and read it
    with their own chunk grouping. ``wrap`` wraps the Zarr store every read goes through.
    """
    location = entry.location
    try:
        if isinstance(location, StacLocation):
            location = resolve_stac(location)
        if isinstance(location, IcechunkLocation):
            return open_icechunk(location, chunks, wrap)
        return open_zarr(location, chunks, wrap)
    except SourceUnavailable:
        raise
    except Exception as error:
        where = getattr(location, "url", getattr(location, "dataset_id", "?"))
        raise SourceUnavailable(f"cannot open source {entry.source_id!r} at {where}: {error}") from error
