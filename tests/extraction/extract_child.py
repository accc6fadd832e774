"""A ``forecast-panel extract`` process for the crash and signal tests.

``python -m tests.extraction.extract_child [--pause-at build|commit] EXTRACT-ARGS…`` imports
everything first, prints ``ready`` and waits for a line on stdin, so that a test's kill lands in
the run rather than in the imports. With ``--pause-at``, it prints ``paused`` when the run
reaches that step (the tiles are built / the commit is about to swap latest.json) and waits for
another line there: a test can signal the process at a known point of the run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import extraction.compose
import extraction.pipeline
from forecast_cli.main import main


def _paused[T](function: Callable[..., T]) -> Callable[..., T]:
    def wrapper(*args: Any, **kwargs: Any) -> T:
        print("paused", flush=True)
        sys.stdin.readline()
        return function(*args, **kwargs)

    return wrapper


def run(argv: list[str]) -> int:
    if argv[:1] == ["--pause-at"]:
        step, argv = argv[1], argv[2:]
        if step == "build":
            extraction.pipeline.build_artifacts = _paused(extraction.pipeline.build_artifacts)
        else:
            extraction.pipeline.commit = _paused(extraction.pipeline.commit)
    print("ready", flush=True)
    sys.stdin.readline()
    return main(["extract", *argv])


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
