"""Artifact store access by URL: one code path for a local folder, S3 and memory.

URLs: a plain path or ``file://`` folder (the default), ``s3://bucket/prefix`` (AWS, moto or
MinIO: the endpoint comes from ``endpoint_url`` or the standard ``AWS_ENDPOINT_URL_S3`` /
``AWS_ENDPOINT_URL`` variables), and ``memory://name`` for tests.

Writes of one key are atomic for readers: S3 PUTs are, and local writes go to a temporary file
that is renamed into place. ``replace_if`` is a compare-and-swap of one key (S3 conditional
writes that record write tokens, ``s3_objects.py``; an exclusive file lock locally), the commit
point of the publish protocol; ``forecast_core.swap`` builds the exactly-once read-change-write
loop on it.
"""

from __future__ import annotations

import builtins
import fcntl
import hashlib
import json
import os
import posixpath
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import fsspec
from fsspec.implementations.local import LocalFileSystem
from pydantic import BaseModel, ValidationError

from forecast_core.base import validation_summary
from forecast_core.s3_objects import BODY_READ_RETRY as BODY_READ_RETRY  # re-exported
from forecast_core.s3_objects import S3_RETRY_CONFIG, S3Objects
from forecast_core.s3_objects import Versioned as Versioned  # re-exported: the store's version type

ModelT = TypeVar("ModelT", bound=BaseModel)

LOCK_SUFFIX = ".lock"  # a local compare-and-swap's lock file beside its key (never listed)
_MEMORY_SWAP_LOCK = threading.Lock()


class StoreError(RuntimeError):
    """The store cannot be reached or a key cannot be read or written."""


class ArtifactNotFound(StoreError, FileNotFoundError):
    """The key does not exist in the store."""


class InvalidArtifact(StoreError, ValueError):
    """A stored JSON document does not match its contract."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One object of a store listing."""

    key: str
    size: int
    last_modified: datetime | None = None


def s3_endpoint_url(explicit: str | None = None) -> str | None:
    """The S3 endpoint to use: the explicit one, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL."""
    return explicit or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def s3_storage_options(endpoint_url: str | None = None, anonymous: bool = False) -> dict[str, Any]:
    """s3fs options with the endpoint and botocore's standard retry mode."""
    options: dict[str, Any] = {"config_kwargs": dict(S3_RETRY_CONFIG)}
    endpoint = s3_endpoint_url(endpoint_url)
    if endpoint:
        options["client_kwargs"] = {"endpoint_url": endpoint}
    if anonymous:
        options["anon"] = True
    return options


@contextmanager
def _translated(action: str, key: str, url: str) -> Iterator[None]:
    """Turn backend errors (OSError, botocore, aiohttp …) into ArtifactNotFound / StoreError."""
    try:
        yield
    except StoreError:
        raise
    except FileNotFoundError as error:
        raise ArtifactNotFound(f"{key} not found in {url}") from error
    except Exception as error:
        raise StoreError(f"cannot {action} {key or 'the store'} at {url}: {type(error).__name__}: {error}") from error


def _normalise_url(url: str) -> str:
    if "://" not in url:
        return str(Path(url).expanduser().resolve())
    return url.rstrip("/")


class ArtifactStore:
    """Read and write artifacts by key under one store URL.

    On S3 without ``storage_options`` every operation but ``open`` is a boto3 request
    (``forecast_core.s3_objects``) and s3fs (``fs``) is created only if asked for; with
    ``storage_options`` (s3fs options) every operation goes through s3fs."""

    def __init__(self, url: str, *, endpoint_url: str | None = None, storage_options: dict[str, Any] | None = None):
        if not url:
            raise StoreError("store URL is empty")
        self.url = _normalise_url(url)
        self.is_s3 = self.url.startswith("s3://")
        self.endpoint_url = s3_endpoint_url(endpoint_url) if self.is_s3 else None
        self._s3 = S3Objects(self.endpoint_url) if self.is_s3 else None
        self._objects = None if storage_options else self._s3  # plain operations through boto3 too
        defaults = s3_storage_options(endpoint_url) if self.is_s3 else {}
        self._fs_options = {**defaults, **(storage_options or {})}
        self._fs_lock = threading.Lock()
        self._fs: fsspec.AbstractFileSystem | None = self._open_fs() if self._objects is None else None
        self.root: str = self.url.removeprefix("s3://").rstrip("/") if self._fs is None else self._fs_root
        self.is_local = isinstance(self._fs, LocalFileSystem)

    def _open_fs(self) -> fsspec.AbstractFileSystem:
        try:
            fs, root = fsspec.core.url_to_fs(self.url, **self._fs_options)
        except (ValueError, ImportError) as error:
            raise StoreError(f"cannot open store {self.url!r}: {error}") from error
        self._fs_root = str(root).rstrip("/")
        return fs

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        """The fsspec filesystem of the store (on S3 without storage options: created on first use)."""
        with self._fs_lock:
            if self._fs is None:
                self._fs = self._open_fs()
            return self._fs

    def __repr__(self) -> str:
        return f"ArtifactStore({self.url!r})"

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (e.g. into a Dask task): the lock is made again there."""
        return {name: value for name, value in self.__dict__.items() if name != "_fs_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._fs_lock = threading.Lock()

    @property
    def bucket(self) -> str:
        """The S3 bucket (or the local root folder) the store lives in."""
        return self.root.split("/", 1)[0] if self.is_s3 else self.root

    def path(self, key: str) -> str:
        """Filesystem path of ``key``; rejects keys that would escape the store root."""
        cleaned = posixpath.normpath(key.lstrip("/"))
        if cleaned.startswith("..") or cleaned == ".":
            raise StoreError(f"invalid key {key!r}")
        return f"{self.root}/{cleaned}"

    # --- bytes ------------------------------------------------------------------------------

    def read_bytes(self, key: str) -> bytes:
        """The whole object at ``key`` in one GET (on S3, s3fs would first ask the object's size
        with a HEAD, to split large reads: one more round trip for every small object)."""
        single = {"max_concurrency": 1} if self.is_s3 else {}
        with _translated("read", key, self.url):
            if self._objects is not None:
                return self._objects.get(*self._s3_location(key))
            data: bytes = self.fs.cat_file(self.path(key), **single)
        return data

    def write_bytes(self, key: str, data: bytes) -> None:
        """Write ``data`` at ``key`` so that readers see the old or the new object, never a part."""
        path = self.path(key)
        with _translated("write", key, self.url):
            if self.is_local:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                temporary = f"{path}.tmp-{uuid.uuid4().hex}"
                with open(temporary, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, path)
            elif self._objects is not None:
                self._objects.put(*self._s3_location(key), data)
            else:
                self.fs.pipe_file(path, data)

    def open(self, key: str, mode: str = "rb") -> IO[bytes]:
        """A file object for streaming reads (e.g. Parquet footers and row groups)."""
        if "r" not in mode:
            raise StoreError("open() is read-only; use write_bytes for atomic writes")
        with _translated("open", key, self.url):
            handle: IO[bytes] = self.fs.open(self.path(key), mode)
        return handle

    def exists(self, key: str) -> bool:
        if self._objects is None:
            with _translated("check", key, self.url):
                return bool(self.fs.exists(self.path(key)))
        try:
            self.stat(key)
        except ArtifactNotFound:
            return False
        return True

    def stat(self, key: str) -> ObjectInfo:
        """Size and modification time of the object at ``key`` (ArtifactNotFound if none)."""
        with _translated("check", key, self.url):
            if self._objects is not None:
                found = self._objects.head(*self._s3_location(key))
                return ObjectInfo(key, found.size, as_datetime(found.last_modified))
            info = self.fs.info(self.path(key))
        modified = as_datetime(info.get("LastModified") or info.get("mtime"))
        return ObjectInfo(key, int(info.get("size") or 0), modified)

    def delete(self, key: str) -> None:
        try:
            with _translated("delete", key, self.url):
                if self._objects is not None:
                    self._objects.delete(*self._s3_location(key))
                else:
                    self.fs.rm_file(self.path(key))
        except ArtifactNotFound:
            return

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object under ``prefix`` (recursive), sorted by key; temp files excluded."""
        base = self.path(prefix) if prefix else self.root
        if self._objects is not None:
            return self._s3_list(base)
        with _translated("list", prefix, self.url):
            if not self.fs.exists(base):
                return []
            found = self.fs.find(base, detail=True)
        infos: list[ObjectInfo] = []
        for path, info in found.items():
            if info.get("type") == "directory" or ".tmp-" in path or path.endswith(LOCK_SUFFIX):
                continue
            key = path[len(self.root) + 1 :] if path.startswith(self.root + "/") else path
            modified = info.get("LastModified") or info.get("mtime") or info.get("created")
            when = as_datetime(modified)
            infos.append(ObjectInfo(key=key, size=int(info.get("size") or 0), last_modified=when))
        return sorted(infos, key=lambda item: item.key)

    def _s3_list(self, base: str) -> builtins.list[ObjectInfo]:
        bucket, _, folder = base.partition("/")
        within = f"{folder}/" if folder else ""
        with _translated("list", base, self.url):
            found = list(self._objects.list(bucket, within)) if self._objects is not None else []
        infos = [
            ObjectInfo(f"{bucket}/{item.key}"[len(self.root) + 1 :], item.size, as_datetime(item.last_modified))
            for item in found
            if not item.key.endswith("/") and ".tmp-" not in item.key and not item.key.endswith(LOCK_SUFFIX)
        ]
        return sorted(infos, key=lambda item: item.key)

    def temporary_files(self, prefix: str = "") -> builtins.list[ObjectInfo]:
        """Local temporary files under ``prefix`` left by writers that died before their rename."""
        base = self.path(prefix) if prefix else self.root
        if not self.is_local or not os.path.isdir(base):
            return []
        found: list[ObjectInfo] = []
        for folder, _, names in os.walk(base):
            for name in names:
                if ".tmp-" in name:
                    path = os.path.join(folder, name)
                    stat = os.stat(path)
                    when = datetime.fromtimestamp(stat.st_mtime, tz=UTC)
                    found.append(ObjectInfo(os.path.relpath(path, self.root), stat.st_size, when))
        return found

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        for info in self.list(prefix):
            yield info.key

    # --- compare-and-swap -----------------------------------------------------------------------

    def read_versioned(self, key: str) -> Versioned | None:
        """The object's bytes and version, or None when it does not exist (with, on S3, the write
        tokens its latest ``replace_if`` calls recorded)."""
        if self._s3 is not None:
            with _translated("read", key, self.url):
                return self._s3.get_versioned(*self._s3_location(key))
        try:
            data = self.read_bytes(key)
        except ArtifactNotFound:
            return None
        return Versioned(data, sha256_hex(data))

    def replace_if(self, key: str, data: bytes, expected: str | None, *, tokens: tuple[str, ...] = ()) -> bool:
        """Write ``data`` at ``key`` only if the object still has version ``expected`` (None: only
        if it does not exist). True when written, False when another writer changed it first.

        On S3 the write records ``tokens`` with the object (``Versioned.tokens``): a False can also
        mean that this very write succeeded but its answer was lost and botocore's retry found the
        object changed (by itself), which its token tells (``forecast_core.swap``). Local and
        memory writes have no lost answers and keep no tokens.
        """
        if self._s3 is not None:
            with _translated("write", key, self.url):
                written = self._s3.put_if(*self._s3_location(key), data, expected, tokens)
            if written and self._fs is not None:
                self._fs.invalidate_cache(self.path(key))
            return written
        with self._swap_lock(key):
            current = self.read_versioned(key)
            if (current.version if current else None) != expected:
                return False
            self.write_bytes(key, data)
            return True

    @contextmanager
    def _swap_lock(self, key: str) -> Iterator[None]:
        """An exclusive lock on ``key`` for a read-compare-write: a file lock locally (held across
        processes, released by the kernel if the holder dies), a process lock in memory."""
        if not self.is_local:
            with _MEMORY_SWAP_LOCK:
                yield
            return
        path = self.path(key) + LOCK_SUFFIX
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def s3_client(self) -> Any:
        """The store's boto3 S3 client (botocore's standard retries; created on first use)."""
        assert self._s3 is not None, "not an S3 store"
        return self._s3.client()

    def _s3_location(self, key: str) -> tuple[str, str]:
        bucket, _, object_key = self.path(key).partition("/")
        return bucket, object_key

    # --- JSON contracts ---------------------------------------------------------------------

    def read_json(self, key: str) -> Any:
        data = self.read_bytes(key)
        try:
            return json.loads(data)
        except json.JSONDecodeError as error:
            raise InvalidArtifact(f"{key} in {self.url} is not valid JSON: {error}") from error

    def read_model(self, key: str, model: type[ModelT], max_bytes: int | None = None) -> ModelT:
        """Read ``key`` and validate it against ``model``; InvalidArtifact says what is wrong
        (also when the object is larger than ``max_bytes``: no more than ``max_bytes + 1`` of it
        is then read, in the same single request)."""
        if max_bytes is None:
            return self.decode_model(key, self.read_bytes(key), model)
        try:
            with _translated("read", key, self.url):
                if self._objects is not None:
                    data = self._objects.get(*self._s3_location(key), first_bytes=max_bytes + 1)
                else:
                    data = self.fs.cat_file(self.path(key), start=0, end=max_bytes + 1)
        except ArtifactNotFound:
            raise
        except StoreError:  # e.g. S3 refuses any range of an empty object: read it whole
            data = self.read_bytes(key)
        if len(data) > max_bytes:
            size = self.stat(key).size
            raise InvalidArtifact(f"{key} in {self.url} is {size / 2**20:.1f} MiB; at most "
                                  f"{max_bytes / 2**20:.0f} MiB is read")  # fmt: skip
        return self.decode_model(key, data, model)

    def decode_model(self, key: str, data: bytes, model: type[ModelT]) -> ModelT:
        """Validate bytes already read from ``key`` against ``model`` (InvalidArtifact if not)."""
        try:
            return model.model_validate_json(data)
        except ValidationError as error:
            summary = validation_summary(error)
            raise InvalidArtifact(f"{key} in {self.url} is not a valid {model.__name__}: {summary}") from error

    def write_model(self, key: str, value: BaseModel) -> None:
        self.write_bytes(key, value.model_dump_json(indent=2).encode("utf-8") + b"\n")


def as_datetime(value: object) -> datetime | None:
    """A listing's modification time (S3: datetime; local: POSIX seconds) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    return None


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data`` (the checksum manifests record)."""
    return hashlib.sha256(data).hexdigest()
