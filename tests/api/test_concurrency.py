"""No lost updates and one winner per name under 50 concurrent creates.

Local folder: three ``forecast-panel api`` processes on one store, requests spread over them (the
file lock works across processes). AWS: 50 repositories (as 50 Lambda containers, each with its
own clients and rebuild lock) against the moto server; moto's non-atomic IfMatch makes the
verify-and-rebuild step necessary.

moto evaluates neither kind of condition atomically under concurrent requests: its
``TransactWriteItems`` has no lock (and a cancelled transaction restores a deep copy of the whole
table, undoing other writers' items), and its ``PutObject`` checks ``IfMatch`` and writes without
a lock. moto also lets a read (scan, get) see a transaction half applied — items of a
transaction that is then cancelled — which DynamoDB's reads never do: a rebuild whose scan saw
such an item wrote a name twice into the points file (seen once in a full-suite run). These
tests therefore serialise those calls — the atomicity and read isolation real DynamoDB and S3
give: each DynamoDB read and transaction, and each S3 put — and let everything else (S3 reads,
retries, backoff) race. (A read seeing a half-applied transaction has its own test below.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest

from forecast_core.layout import POINTS_AUDIT_LOG_KEY, PRE_CANNED_POINTS_KEY
from forecast_core.points import PointPayload, PreCannedPoints
from forecast_core.store import ArtifactStore
from points_api import geocells
from points_api.dynamo import DynamoRepository
from points_api.errors import DuplicatePoint, StorageConflict
from tests.api.aws_fixtures import STORE_PREFIX, create_aws_resources

ROOT = Path(__file__).resolve().parents[2]
N = 50
_TRANSACTIONS = threading.Lock()


_CONDITIONAL_PUTS = threading.Lock()


def _atomic(call: Callable[..., object], lock: threading.Lock) -> Callable[..., object]:
    def serialised(**kwargs: object) -> object:
        with lock:
            return call(**kwargs)

    return serialised


def _writer(api_table: str, store_url: str, endpoint: str) -> DynamoRepository:
    """A repository like one Lambda container; its conditional writes made atomic and its table
    reads isolated from transactions in progress (see above)."""
    repository = DynamoRepository(api_table, store_url, 0.5, endpoint)
    for call in ("transact_write_items", "scan", "get_item", "transact_get_items"):
        setattr(repository.client, call, _atomic(getattr(repository.client, call), _TRANSACTIONS))
    repository.s3.put_object = _atomic(repository.s3.put_object, _CONDITIONAL_PUTS)
    return repository


def _body(index: int, name: str | None = None) -> bytes:
    # 2° of latitude apart (far beyond the 0.5 km distance rule); a named batch sits elsewhere
    longitude = 100.0 if name else 10.0
    payload = {"point_name": name or f"Point {index}", "latitude": -49.0 + 2 * index, "longitude": longitude}
    return json.dumps({**payload, "created_by": f"writer-{index}"}).encode()


def _post(url: str, body: bytes) -> int | str:
    request = urllib.request.Request(f"{url}/points", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError as error:  # a refused or reset connection fails the test with its reason
        return f"{type(error).__name__}: {error}"


@pytest.fixture
def three_servers(store_url: str) -> Iterator[list[str]]:
    """Three local API processes serving one local-folder store."""
    env = {**os.environ, "POINTS_API_TARGETED_EXTRACTION": "0", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "forecast_cli", "api", "--store", store_url, "--port", "0", "--no-extract"]
    processes = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for _ in range(3)
    ]
    urls = []
    try:
        for process in processes:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert "http://" in line, line
            urls.append(line.split()[3])
            # keep draining: the server logs JSON lines to stdout, and a full pipe would block it
            threading.Thread(target=process.stdout.read, daemon=True).start()
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)


def test_local_folder_50_distinct_then_50_same_name(three_servers: list[str], store_url: str) -> None:
    with ThreadPoolExecutor(max_workers=N) as pool:
        statuses = list(pool.map(lambda i: _post(three_servers[i % 3], _body(i)), range(N)))
    assert statuses == [201] * N
    store = ArtifactStore(store_url)
    document = store.read_model(PRE_CANNED_POINTS_KEY, PreCannedPoints)
    assert sorted(point.point_name for point in document.points) == sorted(f"Point {i}" for i in range(N))
    assert len(store.read_bytes(POINTS_AUDIT_LOG_KEY).splitlines()) == N

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=N) as pool:
        statuses = list(pool.map(lambda i: _post(three_servers[i % 3], _body(i, "Summit")), range(N)))
    assert Counter(statuses) == {201: 1, 409: N - 1}, f"after {time.perf_counter() - started:.1f} s"
    document = store.read_model(PRE_CANNED_POINTS_KEY, PreCannedPoints)
    assert len(document.points) == N + 1
    assert [point.point_name for point in document.points].count("Summit") == 1


@pytest.mark.aws
def test_dynamodb_50_distinct_then_50_same_name(moto: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    api = create_aws_resources(moto, s3_bucket, monkeypatch)
    repositories = [_writer(api.points_table, api.store_url, moto) for _ in range(N)]

    def create(index: int, name: str | None = None) -> str:
        payload = PointPayload.model_validate_json(_body(index, name))
        try:
            repositories[index % N].create_point(payload)
        except DuplicatePoint:
            return "duplicate"
        return "created"

    with ThreadPoolExecutor(max_workers=N) as pool:
        outcomes = list(pool.map(create, range(N)))
    assert outcomes == ["created"] * N
    names = sorted(f"Point {i}" for i in range(N))
    assert sorted(point.point_name for point in repositories[0].scan_points()) == names
    s3 = boto3.client("s3", endpoint_url=moto)
    key = f"{STORE_PREFIX}/{PRE_CANNED_POINTS_KEY}"
    document = PreCannedPoints.model_validate_json(s3.get_object(Bucket=api.bucket, Key=key)["Body"].read())
    assert sorted(point.point_name for point in document.points) == names

    with ThreadPoolExecutor(max_workers=N) as pool:
        outcomes = list(pool.map(lambda i: create(i, "Summit"), range(N)))
    assert Counter(outcomes) == {"created": 1, "duplicate": N - 1}
    document = PreCannedPoints.model_validate_json(s3.get_object(Bucket=api.bucket, Key=key)["Body"].read())
    assert [point.point_name for point in document.points].count("Summit") == 1
    assert len(document.points) == N + 1


@pytest.mark.aws
def test_dynamodb_20_nearby_creates_under_different_names(
    moto: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The distance rule holds under races too: the grid-cell guard lets one of them in."""
    api = create_aws_resources(moto, s3_bucket, monkeypatch)
    writers = 20
    repositories = [_writer(api.points_table, api.store_url, moto) for _ in range(writers)]

    def create(index: int) -> str:
        # within ~0.2 km of each other, straddling a grid-cell boundary at 0.75 km cells
        body = {"point_name": f"Camp {index}", "latitude": 46.0 + index * 0.0001, "longitude": 7.0, "created_by": "w"}
        try:
            repositories[index].create_point(PointPayload.model_validate_json(json.dumps(body)))
        except DuplicatePoint as error:
            return str(error.reason)
        return "created"

    with ThreadPoolExecutor(max_workers=writers) as pool:
        outcomes = Counter(pool.map(create, range(writers)))
    assert outcomes == {"created": 1, "distance": writers - 1}
    assert len(repositories[0].scan_points()) == 1


@pytest.mark.aws
def test_a_cell_read_half_written_makes_the_create_read_again(
    moto: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto lets a read see a transaction half applied (a cell item without its version): the
    create's guard then fails and it reads again, instead of failing on the missing attribute."""
    api = create_aws_resources(moto, s3_bucket, monkeypatch)
    repository = DynamoRepository(api.points_table, api.store_url, 0.5, moto)
    payload = PointPayload(point_name="Hut", latitude=46.0, longitude=7.0, created_by="w")
    own_cell = geocells.cell_keys(payload.latitude, payload.longitude, 0.5)[0]
    item = {"pk": {"S": own_cell}, "kind": {"S": "cell"}}
    repository.client.put_item(TableName=api.points_table, Item=item)
    with pytest.raises(StorageConflict):  # every attempt saw the half-written cell
        repository.create_point(payload)
    repository.client.put_item(TableName=api.points_table, Item={**item, "version": {"N": "3"}})
    assert repository.create_point(payload).point is not None, "once the cell is whole, the create goes in"
