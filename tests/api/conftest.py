"""Fixtures of the write-back API tests: embedded services over a real store, the local server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from forecast_core.store import ArtifactStore
from points_api import services
from points_api.audit import StoreAuditLog
from points_api.embedded import StoreRepository
from points_api.extraction_trigger import NoExtraction
from points_api.local_server import start_server
from points_api.openapi import DOCUMENT
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
def _quiet_moto_request_log(quiet_moto_log: None) -> None:
    """Every API test: moto's request log off (the races send thousands of requests)."""


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


def raw_request(api: LocalApi, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
    """One request to the local server: its status and JSON body, error statuses included."""
    request = urllib.request.Request(f"{api.url}{path}", data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# the schemathesis checks every fuzz test applies to each answer
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def operations_under(*prefixes: str) -> list[Any]:
    """The committed document's operations whose path starts with one of ``prefixes``."""
    schema = schemathesis.openapi.from_path(str(DOCUMENT))
    operations = [result.ok() for result in schema.get_all_operations()]
    return [operation for operation in operations if operation.path.startswith(prefixes)]
