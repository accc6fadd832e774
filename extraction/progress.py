"""Progress of a run's tiles, per source, with an estimate of the time left.

On a terminal a tqdm bar (unless turned off); otherwise (a container's log, a scheduled task, or
``--no-progress``) one log line per source
when it is done and, while tiles are read, one line at most every ``LOG_EVERY_SECONDS``:
``tiles: gefs 412/632, ecmwf_ifs_ens 0/279 — 41 % in 63 s, about 90 s left``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)
LOG_EVERY_SECONDS = 15.0


class TileProgress:
    """Counts finished tiles per source (``done``) and reports them (see the module docstring)."""

    def __init__(self, sources: Sequence[str], totals: Sequence[int], show: bool | None = None) -> None:
        self.sources = list(sources)
        self.totals = list(totals)
        self.finished = [0] * len(totals)
        self.started = time.monotonic()
        self._logged = self.started
        terminal = sys.stderr.isatty() if show is None else show
        self._bar: Any = None
        if terminal and sum(totals):
            from tqdm import tqdm

            self._bar = tqdm(total=sum(totals), desc="tiles", unit="tile", file=sys.stderr, leave=False)
        self._log = self._bar is None

    def done(self, group: int, tiles: int = 1) -> None:
        """``tiles`` more tiles of source ``group`` are finished."""
        self.finished[group] += tiles
        if self._bar is not None:
            self._bar.update(tiles)
            self._bar.set_postfix_str(self.sources[group], refresh=False)
        if not self._log:
            return
        now = time.monotonic()
        if self.finished[group] == self.totals[group] or now - self._logged >= LOG_EVERY_SECONDS:
            self._logged = now
            log.info("tiles: %s", self.summary(now))

    def summary(self, now: float | None = None) -> str:
        """Tiles done per source, the share of all tiles, the time so far and an estimate of the rest."""
        elapsed = (now or time.monotonic()) - self.started
        done, total = sum(self.finished), sum(self.totals)
        parts = ", ".join(f"{source} {n}/{t}" for source, n, t in zip(self.sources, self.finished, self.totals,
                                                                       strict=True))  # fmt: skip
        share = done / total if total else 1.0
        left = f", about {elapsed / done * (total - done):.0f} s left" if 0 < done < total else ""
        return f"{parts} — {share:.0%} in {elapsed:.0f} s{left}"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
