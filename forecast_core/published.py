"""The reader half of the publish protocol, defined once for the pipeline, the app and notebooks.

What a reader may rely on (the writer half is ``extraction.publish``):

1. ``manifests/latest.json`` names the run in force. It is replaced in one atomic write, by a
   compare-and-swap, only after every object it lists has been written completely.
2. Artifact keys are content-addressed (``forecast_core.layout.artifact_key``): an object a
   published manifest lists is never overwritten, and is deleted only once it has been unlisted
   for longer than any reader holds a manifest (``extraction.publish.CLEANUP_GRACE``).
3. So a reader resolves latest.json once, then reads exactly the listed artifacts, each checked
   against its listed sha256. A mismatch or a missing object can only mean damage or a manifest
   held far too long: ``ArtifactChanged`` says to re-read latest.json, and a reader that retries
   from there never mixes two runs.
"""

from __future__ import annotations

from forecast_core.layout import LATEST_MANIFEST_KEY
from forecast_core.status import ManifestArtifact, RunManifest
from forecast_core.store import BODY_READ_RETRY, ArtifactNotFound, ArtifactStore, StoreError, Versioned, sha256_hex
from forecast_core.transient import retrying


class ArtifactChanged(StoreError):
    """A listed artifact is missing or its bytes differ from the manifest: re-read latest.json."""


def read_latest(store: ArtifactStore) -> RunManifest | None:
    """The run in force, or None before the first publish."""
    latest = read_latest_versioned(store)
    return latest[0] if latest else None


def read_latest_versioned(store: ArtifactStore) -> tuple[RunManifest, Versioned] | None:
    """The run in force and the exact bytes and version it was parsed from (for a writer's
    compare-and-swap), or None before the first publish."""
    found = store.read_versioned(LATEST_MANIFEST_KEY)
    if found is None:
        return None
    return store.decode_model(LATEST_MANIFEST_KEY, found.data, RunManifest), found


def read_artifact(store: ArtifactStore, artifact: ManifestArtifact) -> bytes:
    """The exact bytes a manifest lists, or ArtifactChanged (re-read latest.json and retry)."""
    try:
        data = _read_listed(store, artifact)
    except ArtifactNotFound as error:
        raise ArtifactChanged(f"{artifact.key} is no longer stored; re-read latest.json") from error
    return verified(artifact, data)


def verified(artifact: ManifestArtifact, data: bytes) -> bytes:
    """``data`` if it is exactly what the manifest lists, else ArtifactChanged."""
    if sha256_hex(data) != artifact.sha256:
        raise ArtifactChanged(f"{artifact.key} changed since the manifest was written; re-read latest.json")
    return data


def _read_listed(store: ArtifactStore, artifact: ManifestArtifact) -> bytes:
    if artifact.version_id is None or not store.is_s3:
        return store.read_bytes(artifact.key)
    # a manifest from before content addressing pins a version of a key that runs overwrote
    from botocore.exceptions import ClientError

    bucket, _, key = store.path(artifact.key).partition("/")
    client = store.s3_client()

    def read() -> bytes:
        try:
            response = client.get_object(Bucket=bucket, Key=key, VersionId=artifact.version_id)
        except ClientError as error:
            raise ArtifactNotFound(f"{artifact.key} version {artifact.version_id}: {error}") from error
        body: bytes = response["Body"].read()
        return body

    data: bytes = retrying(BODY_READ_RETRY, f"read {artifact.key}")(read)
    return data


def read_published(store: ArtifactStore, retries: int = 3) -> tuple[RunManifest, dict[str, bytes]]:
    """latest.json and every artifact it lists, all of that one run (retrying from latest.json
    when an artifact changed underneath)."""
    for attempt in range(retries):
        manifest = read_latest(store)
        if manifest is None:
            raise ArtifactNotFound(f"{LATEST_MANIFEST_KEY} not found in {store.url}")
        try:
            return manifest, {item.key: read_artifact(store, item) for item in manifest.artifacts}
        except ArtifactChanged:
            if attempt == retries - 1:
                raise
    raise AssertionError("unreachable")
