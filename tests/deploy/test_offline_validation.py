"""The offline validation of the stack: cfn-lint, checkov (with the committed skip list), the transform."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import DEPLOY, offline_checks

# checkov is slow (~20 s on 2 cores): one run per module, and the module stays on one xdist worker.
pytestmark = pytest.mark.xdist_group(name="deploy-checkov")


@pytest.fixture(scope="module")
def checkov_report(expanded: dict[str, Any]) -> dict[str, Any]:
    if offline_checks.find_checkov() is None:
        pytest.fail(
            "checkov not found on PATH or in .tools/checkov/bin: run `scripts/dev test` "
            "(it installs checkov from deploy/tools/checkov.lock.txt into .tools/checkov)"
        )
    report: dict[str, Any] = offline_checks.run_checkov(expanded)
    return report


def test_cfn_lint_is_clean() -> None:
    result = offline_checks.run_cfn_lint()
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_has_no_unjustified_failure(checkov_report: dict[str, Any]) -> None:
    failures = [
        f"{item['check']} {item['resource']} ({item['file']}): {item['name']}" for item in checkov_report["failed"]
    ]
    assert not failures, "fix these or justify them in deploy/checkov-skips.yaml:\n" + "\n".join(failures)


def test_checkov_scanned_the_template_and_the_dockerfiles(checkov_report: dict[str, Any]) -> None:
    assert set(checkov_report["frameworks"]) == {"cloudformation", "dockerfile"}
    assert checkov_report["passed"] > 100


def test_every_checkov_skip_is_justified() -> None:
    skips = offline_checks.checkov_skips()
    assert skips, "the skip list is read"
    for check, reason in skips.items():
        assert check.startswith(("CKV_", "CKV2_")), check
        assert len(reason.split()) >= 12, f"{check}: say why the check does not apply"


def test_expansion_needs_no_build_and_no_account(expanded: dict[str, Any]) -> None:
    function = expanded["Resources"]["PointsApiFunction"]["Properties"]
    assert function["Code"] == {"S3Bucket": "offline-stub-bucket", "S3Key": "points-api.zip"}
    assert "Transform" not in expanded


def test_template_parses_without_errors(source_template: dict[str, Any]) -> None:
    assert source_template["Transform"] == "AWS::Serverless-2016-10-31"
    code_uri = source_template["Resources"]["PointsApiFunction"]["Properties"]["CodeUri"]
    assert code_uri == "../build/points-api/"  # written by deploy/build-lambda.sh


def test_no_secrets_in_deploy_files() -> None:
    patterns = [
        re.compile(r"AKIA[0-9A-Z]{16}"),
        re.compile(r"(?i)aws_secret_access_key\s*[=:]"),
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
        re.compile(r"(?i)(password|client_secret)\s*[=:]\s*['\"][^'\"{]{6,}"),
    ]
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file() and path.suffix in {".yaml", ".toml", ".sh", ".md", ".py", ".Dockerfile", ".txt", ""}:
            text = path.read_text(errors="replace")
            for pattern in patterns:
                assert not pattern.search(text), (
                    f"{path.relative_to(DEPLOY)} looks like it holds a secret ({pattern.pattern})"
                )
