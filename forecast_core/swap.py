"""Compare-and-swap of one key of an artifact store, exactly once in effect.

``swap`` reads the object and its version (``ArtifactStore.read_versioned``), lets ``change``
compute the new bytes, and writes them only if the version is unchanged
(``ArtifactStore.replace_if``: an S3 conditional write, a file lock on a folder, a process lock in
memory). A lost race re-reads and re-applies ``change`` after a jittered exponential backoff.

Each write carries a fresh token, which S3 keeps in the object's metadata: a write whose outcome
is unknown (its answer lost, or a transient error that outlasted botocore's retries) is decided by
the next read — the token is there, the write landed once and its result is returned.

moto checks a condition and writes without a lock, so two writers can both "win" there; callers
that must be exact under moto also hold ``PROCESS_LOCK`` around the swap. Real S3 evaluates the
condition atomically.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable

from forecast_core.s3_objects import TOKEN_HISTORY
from forecast_core.store import ArtifactStore, StoreError
from forecast_core.transient import is_transient

log = logging.getLogger(__name__)
PROCESS_LOCK = threading.RLock()
SWAP_ATTEMPTS = 12


class SwapConflict(StoreError):
    """Every attempt of a compare-and-swap lost the race to another writer."""


def swap[T](
    store: ArtifactStore,
    key: str,
    change: Callable[[bytes | None], tuple[bytes, T]],
    *,
    attempts: int = SWAP_ATTEMPTS,
    base_delay: float = 0.02,
) -> T:
    """Apply ``change`` to the object at ``key`` exactly once and return its second value.

    ``change(old_bytes_or_None) -> (new_bytes, result)`` must be a pure function of the bytes it
    is given and may raise to abort (nothing is written). Raises ``SwapConflict`` when every
    attempt lost the race, and any error that is not transient as it comes.
    """
    pending: tuple[str, T] | None = None  # the token and result of a write whose outcome is unknown
    for attempt in range(attempts):
        found = store.read_versioned(key)
        if pending is not None and found is not None and pending[0] in found.tokens:
            return pending[1]  # the earlier write landed; only its answer was lost
        new_bytes, result = change(found.data if found else None)
        token = uuid.uuid4().hex
        pending = (token, result)
        history = found.tokens[-(TOKEN_HISTORY - 1) :] if found else ()
        try:
            if store.replace_if(key, new_bytes, found.version if found else None, tokens=(*history, token)):
                return result
        except StoreError as error:
            if not is_transient(error):
                raise
            log.warning("swap of %s: outcome unknown after %s; re-reading", key, error)
        delay = random.uniform(0, min(1.0, base_delay * 2**attempt))  # noqa: S311 (jitter, not crypto)
        log.info("swap of %s lost a race (or its answer); retry in %.3f s", key, delay)
        time.sleep(delay)
    raise SwapConflict(f"could not update {key} after {attempts} attempts; try again")
