"""Artifact store access by URL: one code path for a local folder, S3 and memory.

URLs: a plain path or ``file://`` folder (the default), ``s3://bucket/prefix`` (AWS, moto or
MinIO: the endpoint comes from ``endpoint_url`` or the standard ``AWS_ENDPOINT_URL_S3`` /
``AWS_ENDPOINT_URL`` variables), and ``memory://name`` for tests.

Writes of one key are atomic for readers: S3 PUTs are, and local writes go to a temporary file
that is renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import fsspec
from fsspec.implementations.local import LocalFileSystem
from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)

S3_RETRY_CONFIG: dict[str, Any] = {"retries": {"mode": "standard", "max_attempts": 5}}


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
    """Read and write artifacts by key under one store URL."""

    def __init__(self, url: str, *, endpoint_url: str | None = None, storage_options: dict[str, Any] | None = None):
        if not url:
            raise StoreError("store URL is empty")
        self.url = _normalise_url(url)
        options = dict(storage_options or {})
        if self.url.startswith("s3://"):
            options = {**s3_storage_options(endpoint_url), **options}
        self.endpoint_url = s3_endpoint_url(endpoint_url) if self.url.startswith("s3://") else None
        try:
            fs, root = fsspec.core.url_to_fs(self.url, **options)
        except (ValueError, ImportError) as error:
            raise StoreError(f"cannot open store {url!r}: {error}") from error
        self.fs: fsspec.AbstractFileSystem = fs
        self.root: str = root.rstrip("/")
        self.is_local = isinstance(fs, LocalFileSystem)
        self.is_s3 = self.url.startswith("s3://")

    def __repr__(self) -> str:
        return f"ArtifactStore({self.url!r})"

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
        with _translated("check", key, self.url):
            found = bool(self.fs.exists(self.path(key)))
        return found

    def delete(self, key: str) -> None:
        try:
            with _translated("delete", key, self.url):
                self.fs.rm_file(self.path(key))
        except ArtifactNotFound:
            return

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object under ``prefix`` (recursive), sorted by key; temp files excluded."""
        base = self.path(prefix) if prefix else self.root
        with _translated("list", prefix, self.url):
            if not self.fs.exists(base):
                return []
            found = self.fs.find(base, detail=True)
        infos: list[ObjectInfo] = []
        for path, info in found.items():
            if info.get("type") == "directory" or ".tmp-" in path:
                continue
            key = path[len(self.root) + 1 :] if path.startswith(self.root + "/") else path
            modified = info.get("LastModified") or info.get("mtime") or info.get("created")
            when = modified if isinstance(modified, datetime) else None
            infos.append(ObjectInfo(key=key, size=int(info.get("size") or 0), last_modified=when))
        return sorted(infos, key=lambda item: item.key)

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        for info in self.list(prefix):
            yield info.key

    # --- JSON contracts ---------------------------------------------------------------------

    def read_json(self, key: str) -> Any:
        data = self.read_bytes(key)
        try:
            return json.loads(data)
        except json.JSONDecodeError as error:
            raise InvalidArtifact(f"{key} in {self.url} is not valid JSON: {error}") from error

    def read_model(self, key: str, model: type[ModelT]) -> ModelT:
        """Read ``key`` and validate it against ``model``; InvalidArtifact says what is wrong."""
        return self.decode_model(key, self.read_bytes(key), model)

    def decode_model(self, key: str, data: bytes, model: type[ModelT]) -> ModelT:
        """Validate bytes already read from ``key`` against ``model`` (InvalidArtifact if not)."""
        try:
            return model.model_validate_json(data)
        except ValidationError as error:
            raise InvalidArtifact(f"{key} in {self.url} does not match {model.__name__}: {error}") from error

    def write_model(self, key: str, value: BaseModel) -> None:
        self.write_bytes(key, value.model_dump_json(indent=2).encode("utf-8") + b"\n")


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data`` (the checksum manifests record)."""
    return hashlib.sha256(data).hexdigest()
