"""Fixtures of the alert tests: a store the real pipeline extracted (with rules, so its
post-publish step evaluated them), new runs published by hand, and a loopback webhook."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from forecast_core.alerts import AlertRule, AlertRules
from forecast_core.init_store import init_store, load_registry_file
from forecast_core.layout import ALERT_RULES_KEY, make_run_id, parse_run_id
from forecast_core.points import Point, PreCannedPoints
from forecast_core.published import read_artifact, read_latest_versioned
from forecast_core.status import RunManifest
from forecast_core.store import ArtifactStore

ROOT = Path(__file__).resolve().parents[2]
WHEN = datetime(2026, 11, 20, tzinfo=UTC)
POINTS = [("alpha", "Alpha", 39.6, -106.3), ("charlie", "Charlie", 40.2, -105.4)]
RAIN = "rule-00000000000a"  # consensus: P(precipitation 0–72 h ≥ 1 mm) ≥ 50 %: true
COLD = "rule-00000000000b"  # GEFS: median temperature < 0 °C at any time in 0–240 h: true
SNOW = "rule-00000000000c"  # consensus: max snowfall total > 1 mm at all times 0–120 h: false
WIND = "rule-00000000000d"  # IFS ENS: window past its 360 h horizon: no data


def rule(rule_id: str, point_id: str, condition: dict[str, Any], enabled: bool = True) -> AlertRule:
    return AlertRule.model_validate(
        {"rule_id": rule_id, "point_id": point_id, "condition": condition, "created_by": "tests",
         "created_utc": WHEN, "updated_utc": WHEN, "enabled": enabled}
    )  # fmt: skip


RULES = [
    rule(RAIN, "alpha", {"kind": "probability", "variable_id": "precipitation", "window": {"end_hours": 72},
                         "reduce": "total", "comparison": ">=", "threshold": 1.0, "unit": "mm",
                         "min_probability": 50.0}),
    rule(COLD, "alpha", {"kind": "statistic", "variable_id": "temperature_2m", "source": "gefs",
                         "window": {"end_hours": 240}, "statistic": "median", "comparison": "<", "threshold": 0.0,
                         "unit": "degC"}),
    rule(SNOW, "charlie", {"kind": "statistic", "variable_id": "snowfall_total", "window": {"end_hours": 120},
                           "statistic": "max", "comparison": ">", "threshold": 1.0, "unit": "mm", "when": "all"}),
    rule(WIND, "charlie", {"kind": "probability", "variable_id": "wind_speed_10m", "source": "ecmwf_ifs_ens",
                           "window": {"end_hours": 600}, "reduce": "max", "comparison": ">", "threshold": 10.0,
                           "unit": "m/s", "min_probability": 10.0}),
]  # fmt: skip


def write_rules(store: ArtifactStore, rules: list[AlertRule]) -> None:
    store.write_bytes(ALERT_RULES_KEY, AlertRules(generated_utc=WHEN, rules=rules).to_json_bytes())


@pytest.fixture(scope="session")
def evaluated_store(tiny_samples: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store extracted by ``forecast-panel extract`` with ``RULES`` in place, so the extraction's
    post-publish step evaluated them (log channel only)."""
    root = tmp_path_factory.mktemp("alerts-store") / "store"
    store = ArtifactStore(str(root))
    points = [Point(point_id=pid, point_name=name, latitude=lat, longitude=lon, created_by="tests",
                    created_utc=WHEN, updated_utc=WHEN) for pid, name, lat, lon in POINTS]  # fmt: skip
    init_store(store, load_registry_file(tiny_samples / "source_registry.json"),
               points=PreCannedPoints(generated_utc=WHEN, points=points))  # fmt: skip
    write_rules(store, RULES)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORECAST_ALERTS")} | {"ICECHUNK_LOG": "error"}
    command = [sys.executable, "-m", "forecast_cli", "extract", "--store", str(root), "--no-progress"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return root


@pytest.fixture
def store(evaluated_store: Path, tmp_path: Path) -> ArtifactStore:
    """A private copy of ``evaluated_store``."""
    target = tmp_path / "store"
    shutil.copytree(evaluated_store, target)
    return ArtifactStore(str(target))


def forget_evaluations(store: ArtifactStore) -> None:
    """The store as it was before any alert evaluation (status, records and pending runs gone)."""
    shutil.rmtree(store.path("alerts"), ignore_errors=True)
    store.delete("dashboard/status/alerts_status.json")


Change = Callable[[str, str, pa.Table], pa.Table]


def republish(store: ArtifactStore, change: Change, after: timedelta = timedelta(hours=2)) -> RunManifest:
    """Publish a new run whose newest points artifacts are ``change(source, variable, table)`` of the
    run in force's (its other artifacts stay), by the publish protocol's own writer and commit."""
    from extraction.parquet_files import parquet_bytes
    from extraction.publish import PendingArtifact, commit, write_artifact

    found = read_latest_versioned(store)
    assert found is not None
    manifest, versioned = found
    listed = []
    for item in manifest.artifacts:
        newest = manifest.artifact(item.source_id, item.variable_id, item.kind)
        if item.kind != "points" or newest is None or newest.key != item.key:
            listed.append(item)
            continue
        table = change(item.source_id, item.variable_id, pq.read_table(pa.BufferReader(read_artifact(store, item))))
        data = parquet_bytes(table, "points")
        pending = PendingArtifact(item.source_id, item.variable_id, item.init_date, "points", data, table.num_rows)
        listed.append(write_artifact(store, pending))
    run_id = make_run_id(parse_run_id(manifest.run_id) + after)
    new = manifest.model_copy(update={"run_id": run_id, "previous_run_id": manifest.run_id,
                                      "artifacts": sorted(listed, key=lambda a: a.key)})  # fmt: skip
    assert commit(store, RunManifest.model_validate_json(new.model_dump_json()), versioned.version)
    return new


def scaled(variable_id: str, factor: float, offset: float = 0.0) -> Change:
    """``variable_id``'s member values × ``factor`` + ``offset`` (other variables unchanged)."""

    def change(_: str, variable: str, table: pa.Table) -> pa.Table:
        if variable != variable_id:
            return table
        index = table.schema.get_field_index("value")
        values = pc.multiply(table.column("value"), pa.scalar(factor, pa.float32()))
        values = pc.add(values, pa.scalar(offset, pa.float32()))
        return table.set_column(index, table.schema.field(index), values)

    return change


@dataclass
class Webhook:
    """A loopback receiver of POSTs: (headers, JSON body) per request; ``status`` is answered."""

    url: str
    received: list[tuple[dict[str, str], Any]] = field(default_factory=list)
    status: int = 204


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hook.received.append((dict(self.headers.items()), json.loads(body)))
            self.send_response(hook.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield hook
    server.shutdown()
    server.server_close()
