"""Fixtures of the write-back API tests: embedded services over a real store, the local server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from forecast_core.store import ArtifactStore
from points_api import services
from points_api.audit import StoreAuditLog
from points_api.embedded import StoreRepository
from points_api.extraction_trigger import NoExtraction
from points_api.local_server import start_server
from points_api.rules_store import StoreRulesRepository


@dataclass
class LocalApi:
    """A running local server over an embedded store."""

    url: str
    store: ArtifactStore
    services: services.Services
    extraction: NoExtraction


def embedded_services(store_url: str, distance_km: float = 0.5, max_body_bytes: int = 4096) -> services.Services:
    """Embedded services over ``store_url`` with targeted extraction recorded, not run."""
    store = ArtifactStore(store_url)
    points = StoreRepository(store, distance_km)
    return services.Services(
        points, StoreAuditLog(store), NoExtraction("tests"), max_body_bytes, StoreRulesRepository(store, points)
    )


@pytest.fixture(autouse=True)
def _quiet_moto_request_log() -> Iterator[None]:
    """moto's server logs every request at INFO; formatting thousands of them slows the races."""
    logger = logging.getLogger("werkzeug")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


@pytest.fixture
def embedded(store_url: str) -> Iterator[services.Services]:
    """Embedded services over a fresh local-folder store, installed for the handler."""
    installed = embedded_services(store_url)
    services.configure(installed)
    yield installed
    services.configure(None)


@pytest.fixture
def local_api(embedded: services.Services) -> Iterator[LocalApi]:
    """The local HTTP server (ephemeral loopback port) over ``embedded``."""
    server, url = start_server()
    assert isinstance(embedded.repository, StoreRepository)
    assert isinstance(embedded.extraction, NoExtraction)
    yield LocalApi(url, embedded.repository.store, embedded, embedded.extraction)
    server.shutdown()
    server.server_close()
