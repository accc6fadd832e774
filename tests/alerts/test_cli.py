"""``forecast-panel alerts evaluate`` as a command: exit codes, channels from its options, a store
without a run, and the extraction's switch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from forecast_core.alert_status import AlertsStatus
from forecast_core.layout import ALERTS_STATUS_KEY
from forecast_core.store import ArtifactStore
from tests.alerts.conftest import ROOT, Webhook, forget_evaluations

CLI = [sys.executable, "-m", "forecast_cli", "alerts", "evaluate"]


def evaluate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("FORECAST_ALERTS")}
    return subprocess.run([*CLI, *args], cwd=ROOT, env={**clean, **(env or {})}, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_a_store_without_a_run_has_nothing_to_evaluate(tmp_path: Path) -> None:
    done = evaluate("--store", str(tmp_path / "empty"))
    assert done.returncode == 0 and "no run has been published" in done.stderr


def test_the_webhook_option_and_its_exit_codes(store: ArtifactStore, webhook: Webhook) -> None:
    forget_evaluations(store)
    webhook.status = 500
    refused = evaluate("--store", store.url, "--webhook", webhook.url)
    assert refused.returncode == 1 and "2 failed" in refused.stderr
    webhook.status = 204
    store.delete(ALERTS_STATUS_KEY)
    done = evaluate("--store", store.url, env={"FORECAST_ALERTS_WEBHOOK_URL": webhook.url})
    assert done.returncode == 0 and "2 sent" in done.stderr
    assert len([body for _, body in webhook.received if body["type"] == "forecast-panel.alert"]) == 4
    status = store.read_model(ALERTS_STATUS_KEY, AlertsStatus)
    assert {item.delivery for item in status.rules if item.transition} == {"sent"}
    again = evaluate("--store", store.url, "--webhook", webhook.url)
    assert again.returncode == 0 and "evaluated already" in again.stderr and len(webhook.received) == 4


def test_a_bad_store_or_webhook_is_a_clear_error(tmp_path: Path, store: ArtifactStore) -> None:
    bad = evaluate("--store", str(tmp_path / "x"), "--webhook", "ftp://example.invalid/hook")
    assert bad.returncode == 2 and "webhook URL must be http(s)" in bad.stderr
    (Path(store.path(ALERTS_STATUS_KEY))).write_text(json.dumps({"run_id": "nope"}))
    broken = evaluate("--store", store.url)
    assert broken.returncode == 2 and "alerts_status.json" in broken.stderr


def test_extraction_can_leave_alerts_to_their_own_task(monkeypatch: pytest.MonkeyPatch) -> None:
    from forecast_alerts.cli import alerts_enabled

    for value, enabled in (("off", False), ("0", False), ("on", True), ("", True)):
        monkeypatch.setenv("FORECAST_ALERTS", value)
        assert alerts_enabled() is enabled
