"""The one transient-error classifier, on the errors each client library really raises when the
faulty S3 proxy throttles, fails, resets, cuts or loses an answer (client retries switched off),
and on the permanent errors beside them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from forecast_core.store import ArtifactStore
from forecast_core.transient import RetryPolicy, botocore_says_transient, call_with_retry, is_transient
from forecast_smoke.s3_faults import FaultPlan
from forecast_smoke.s3_proxy import S3FaultProxy

pytestmark = pytest.mark.aws
BUCKET = "transient"
KINDS = ("slowdown", "internal", "reset", "truncate")  # a lost answer looks like a reset to a reader
ONE_TRY = {"retries": {"mode": "standard", "total_max_attempts": 1}}
PAYLOAD = bytes(range(256)) * 64


@pytest.fixture
def proxy(moto: str, quiet_moto_log: None) -> Iterator[S3FaultProxy]:
    client = boto3.client("s3", endpoint_url=moto)
    client.create_bucket(Bucket=BUCKET)
    client.put_object(Bucket=BUCKET, Key="data/blob", Body=PAYLOAD, ACL="public-read")  # fsspec HTTP reads anonymously
    with S3FaultProxy(moto) as running:
        yield running


def _boto_read(url: str, key: str = "data/blob") -> bytes:
    client = boto3.client("s3", endpoint_url=url, config=Config(**ONE_TRY))  # type: ignore[arg-type]
    data: bytes = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return data


def _s3fs_read(url: str, key: str = "data/blob") -> bytes:
    store = ArtifactStore(
        f"s3://{BUCKET}", endpoint_url=url, storage_options={"config_kwargs": ONE_TRY, "skip_instance_cache": True}
    )
    store.fs.retries = 1  # s3fs' own retry loop around botocore
    return store.read_bytes(key)


def _http_read(url: str, key: str = "data/blob") -> bytes:
    import fsspec

    data: bytes = fsspec.filesystem("http", skip_instance_cache=True).cat_file(f"{url}/{BUCKET}/{key}")
    return data


def _icechunk_repo(moto: str) -> None:
    import icechunk
    import numpy as np
    import zarr

    repo = icechunk.Repository.create(_icechunk_storage(moto, "repo"))
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="values", shape=(64,), chunks=(64,), dtype="float32")[:] = np.arange(64)
    session.commit("one array")


def _icechunk_storage(url: str, prefix: str) -> Any:
    import icechunk

    return icechunk.s3_storage(
        bucket=BUCKET, prefix=prefix, endpoint_url=url, allow_http=True, force_path_style=True, region="us-east-1",
        from_env=True,
    )  # fmt: skip


def _icechunk_read(url: str, prefix: str = "repo") -> bytes:
    import icechunk
    import zarr

    config = icechunk.RepositoryConfig(
        storage=icechunk.StorageSettings(retries=icechunk.StorageRetriesSettings(max_tries=1))
    )
    repo = icechunk.Repository.open(_icechunk_storage(url, prefix), config=config)
    store = repo.readonly_session(branch="main").store
    return bytes(zarr.open_array(store, path="values", mode="r")[:].tobytes())


def _zarr_repo(moto: str) -> None:
    import numpy as np
    import zarr

    store = zarr.storage.FsspecStore.from_url(
        f"s3://{BUCKET}/zarr-array", storage_options={"client_kwargs": {"endpoint_url": moto}}, read_only=False
    )
    zarr.create_array(store, shape=(64,), chunks=(16,), dtype="float32")[:] = np.arange(64)


def _zarr_read(url: str, path: str = "zarr-array") -> bytes:
    import zarr

    options = {"client_kwargs": {"endpoint_url": url}, "config_kwargs": ONE_TRY, "skip_instance_cache": True}
    store = zarr.storage.FsspecStore.from_url(f"s3://{BUCKET}/{path}", storage_options=options, read_only=True)
    store.fs.retries = 1
    return bytes(zarr.open_array(store, mode="r")[:].tobytes())


READERS: dict[str, Callable[[str], bytes]] = {
    "zarr-s3fs": _zarr_read,
    "botocore": _boto_read,
    "s3fs": _s3fs_read,
    "fsspec-http": _http_read,
    "icechunk": _icechunk_read,
}


def _raised(read: Callable[[], object]) -> BaseException:
    try:
        read()
    except Exception as error:
        return error
    raise AssertionError("the fault did not surface as an error")


@pytest.mark.parametrize("library", sorted(READERS))
@pytest.mark.parametrize("kind", KINDS)
def test_every_library_s_fault_errors_are_transient(proxy: S3FaultProxy, moto: str, library: str, kind: str) -> None:
    if library == "icechunk":
        _icechunk_repo(moto)
    if library == "zarr-s3fs":
        _zarr_repo(moto)
    read = READERS[library]
    proxy.plan = FaultPlan(rate=1.0, kinds=(kind,))
    error = _raised(lambda: read(proxy.url))
    assert proxy.stats().faults[kind] >= 1
    assert is_transient(error), f"{library} / {kind}: {type(error).__name__}: {error}"
    proxy.plan = FaultPlan()
    assert read(proxy.url)  # and the same read succeeds once the store behaves


@pytest.mark.parametrize("library", sorted(READERS))
def test_missing_objects_are_permanent(proxy: S3FaultProxy, moto: str, library: str) -> None:
    read = READERS[library]
    argument = "no-such-repo" if library in ("icechunk", "zarr-s3fs") else "data/no-such-key"
    error = _raised(lambda: read(proxy.url, argument))  # type: ignore[call-arg]
    assert not is_transient(error), f"{library}: {type(error).__name__}: {error}"


def test_botocore_codes_and_builtin_errors() -> None:
    def client_error(code: str, status: int) -> ClientError:
        return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")

    assert is_transient(client_error("SlowDown", 503)) and is_transient(client_error("InternalError", 500))
    assert is_transient(client_error("ThrottlingException", 400)) and is_transient(client_error("RequestTimeout", 400))
    for code, status in (("AccessDenied", 403), ("NoSuchKey", 404), ("PreconditionFailed", 412)):
        assert not is_transient(client_error(code, status))
    assert not is_transient(client_error("ConditionalCheckFailedException", 400))
    assert botocore_says_transient("ProvisionedThroughputExceededException")
    wrapped = RuntimeError("cannot read")
    wrapped.__cause__ = OSError(5, "Service Unavailable")
    wrapped.__cause__.__cause__ = client_error("SlowDown", 503)
    assert is_transient(wrapped)  # s3fs' OSError has no verdict: its botocore cause decides
    assert is_transient(TimeoutError()) and is_transient(ConnectionResetError())
    assert not is_transient(ValueError("bad")) and not is_transient(FileNotFoundError("gone"))
    assert not is_transient(RuntimeError("no idea"))
    assert is_transient(ExceptionGroup("reads", [TimeoutError(), ConnectionResetError()]))
    assert not is_transient(ExceptionGroup("reads", [TimeoutError(), PermissionError()]))


def test_call_with_retry_retries_transient_errors_only() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionResetError("peer reset")
        return "data"

    assert call_with_retry(flaky, RetryPolicy(attempts=3, initial_wait=0.001, max_wait=0.002)) == ("data", 3)
    calls.clear()

    def denied() -> None:
        calls.append(1)
        raise PermissionError("denied")

    with pytest.raises(PermissionError):
        call_with_retry(denied, RetryPolicy(attempts=5, initial_wait=0.001))
    assert len(calls) == 1
