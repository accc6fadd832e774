"""Targeted extraction of a newly created point, so its forecast appears within minutes.

Embedded: a detached ``forecast-panel extract --store URL --points ID`` subprocess. AWS: an ECS
``RunTask`` of the extraction task definition with that command. Requesting never fails a create:
every error is logged and swallowed.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from typing import Any, Protocol

import boto3

from points_api.settings import ExtractionTaskSettings

log = logging.getLogger(__name__)


def extract_command(store_url: str, point_id: str) -> list[str]:
    """The CLI arguments of a targeted extraction (after the program name)."""
    return ["extract", "--store", store_url, "--points", point_id]


class ExtractionTrigger(Protocol):
    def request(self, point_id: str) -> None: ...


class NoExtraction:
    """Targeted extraction switched off (tests, fuzzing, or AWS without an extraction task)."""

    def __init__(self, reason: str):
        self.reason = reason
        self.requested: list[str] = []

    def request(self, point_id: str) -> None:
        self.requested.append(point_id)
        log.info("targeted extraction of %s skipped: %s", point_id, self.reason)


class SubprocessExtraction:
    """Starts ``forecast-panel extract`` in its own session; a thread reaps it when it ends."""

    def __init__(self, store_url: str):
        self.store_url = store_url
        self.started: list[subprocess.Popen[bytes]] = []

    def request(self, point_id: str) -> None:
        argv = [sys.executable, "-m", "forecast_cli", *extract_command(self.store_url, point_id)]
        try:
            process = subprocess.Popen(
                argv,
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except OSError as error:
            log.warning("could not start the targeted extraction of %s: %s", point_id, error)
            return
        self.started = [*(started for started in self.started if started.poll() is None), process]
        threading.Thread(target=process.wait, name=f"reap-extract-{process.pid}", daemon=True).start()
        log.info("targeted extraction of %s started (pid %d)", point_id, process.pid)


class EcsExtraction:
    """ECS RunTask (Fargate) of the extraction task with ``forecast-panel extract … --points ID``."""

    def __init__(self, settings: ExtractionTaskSettings, store_url: str, client: Any = None):
        self.settings = settings
        self.store_url = store_url
        self.client = client or boto3.client("ecs")

    def request(self, point_id: str) -> None:
        command = ["forecast-panel", *extract_command(self.store_url, point_id)]
        network: dict[str, Any] = {"subnets": self.settings.subnets, "assignPublicIp": "DISABLED"}
        if self.settings.security_groups:
            network["securityGroups"] = self.settings.security_groups
        try:
            response = self.client.run_task(
                cluster=self.settings.cluster_arn,
                taskDefinition=self.settings.task_definition_arn,
                launchType="FARGATE",
                count=1,
                networkConfiguration={"awsvpcConfiguration": network},
                overrides={"containerOverrides": [{"name": self.settings.container_name, "command": command}]},
                startedBy="points-api",
            )
        except Exception as error:  # noqa: BLE001 (never fail the create because of this)
            log.warning("could not run the targeted extraction task for %s: %s", point_id, error)
            return
        tasks = [task.get("taskArn") for task in response.get("tasks", [])]
        log.info("targeted extraction of %s requested: %s failures=%s", point_id, tasks, response.get("failures"))
