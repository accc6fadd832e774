"""dynamical.org dataset ids → their Icechunk repositories, through the STAC catalog (pystac).

The catalog (``https://stac.dynamical.org/catalog.json``) links one collection per dataset; the
collection whose **id equals** the dataset id (pystac's ``get_child``, never a substring of an
href: one id may be the prefix of another) names the repository in its ``icechunk`` asset.
Every document is fetched with a timeout and retried on transient failures
(``forecast_core.transient``).
"""

from __future__ import annotations

import urllib.request

import pystac
from pystac.stac_io import DefaultStacIO

from forecast_core.registry import IcechunkLocation, StacLocation
from forecast_core.transient import RetryPolicy, retrying

STAC_RETRY = RetryPolicy(attempts=4, initial_wait=0.5, max_wait=4.0)


class StacNotFound(LookupError):
    """The catalog has no such dataset, or its collection no usable asset."""


class _RetryingStacIO(DefaultStacIO):
    """pystac's reader with a timeout on every request and retries on transient failures."""

    def __init__(self, timeout_seconds: float) -> None:
        super().__init__()
        self.timeout_seconds = timeout_seconds

    def read_text_from_href(self, href: str) -> str:
        if "://" not in href or href.startswith("file://"):
            return str(super().read_text_from_href(href))

        def fetch() -> str:
            agent = {"User-Agent": f"forecast-panel pystac/{pystac.__version__}"}
            request = urllib.request.Request(href, headers=agent)  # noqa: S310 (the registry's catalog URL)
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:  # noqa: S310
                return str(response.read().decode("utf-8"))

        text: str = retrying(STAC_RETRY, f"read {href}")(fetch)
        return text


def resolve_stac(location: StacLocation, timeout_seconds: float = 20.0) -> IcechunkLocation:
    """The Icechunk repository of ``location.dataset_id`` (StacNotFound when the catalog has none)."""
    catalog = pystac.Catalog.from_file(location.catalog_url, stac_io=_RetryingStacIO(timeout_seconds))
    collection = catalog.get_child(location.dataset_id)
    if not isinstance(collection, pystac.Collection):
        raise StacNotFound(f"{location.dataset_id} is not in the STAC catalog {location.catalog_url}")
    for key in location.asset_keys:
        asset = collection.assets.get(key)
        if asset is not None:
            options = asset.extra_fields.get("xarray:storage_options", {}) or {}
            region = options.get("region") or options.get("client_kwargs", {}).get("region_name")
            return IcechunkLocation(url=asset.href.rstrip("/"), region=region, anonymous=True)
    raise StacNotFound(f"{location.dataset_id}: no asset among {location.asset_keys} in {collection.self_href}")
