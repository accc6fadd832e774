"""Offline checks of the deploy stack: cfn-lint, SAM expansion, checkov. No AWS account needed.

Used by ``tests/deploy`` and runnable by hand before a deploy::

    .venv/bin/python deploy/tools/offline_checks.py            # all three, exit code 1 on failure
    .venv/bin/python deploy/tools/offline_checks.py --expand   # print the expanded template (JSON)
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[1]
ROOT = DEPLOY.parent
TEMPLATE = DEPLOY / "template.yaml"
DOCKERFILES = sorted((DEPLOY / "docker").glob("*.Dockerfile"))
CHECKOV_SKIPS = DEPLOY / "checkov-skips.yaml"
STUB_CODE_URI = "s3://offline-stub-bucket/points-api.zip"

Template = dict[str, Any]


class _NoManagedPolicies:
    """Stands in for samtranslator's ManagedPolicyLoader, which would call IAM ListPolicies."""

    def load(self) -> dict[str, str]:
        return {}


def load_template(path: Path = TEMPLATE) -> Template:
    """The template as plain JSON-compatible data (short-form intrinsics become ``Fn::…`` dicts)."""
    from cfnlint.decode import decode

    template, errors = decode(str(path))
    if errors or template is None:
        raise ValueError(f"cannot parse {path}: {errors}")
    plain: Template = json.loads(json.dumps(template, default=str))
    return plain


def expand(template: Template | None = None, parameters: dict[str, Any] | None = None) -> Template:
    """Apply the SAM transform offline, as CloudFormation would at deploy time.

    Local ``CodeUri`` folders become a stub S3 location (``sam deploy`` uploads them for real).
    """
    from samtranslator.translator.transform import transform

    source = copy.deepcopy(template if template is not None else load_template())
    for resource in source["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = STUB_CODE_URI
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    expanded: Template = transform(source, parameters or {}, _NoManagedPolicies())
    return expanded


def checkov_skips(path: Path = CHECKOV_SKIPS) -> dict[str, str]:
    """The committed skip list: check id → justification."""
    document = yaml.safe_load(path.read_text())
    skips = document.get("skips", {}) if isinstance(document, dict) else {}
    return {str(check): str(reason) for check, reason in skips.items()}


def find_checkov() -> str | None:
    """checkov from PATH (``scripts/dev test`` adds .tools/checkov/bin) or its own venv."""
    local = ROOT / ".tools" / "checkov" / "bin" / "checkov"
    return shutil.which("checkov") or (str(local) if local.exists() else None)


def find_cfn_lint() -> str | None:
    local = Path(sys.executable).parent / "cfn-lint"
    return str(local) if local.exists() else shutil.which("cfn-lint")


def run_cfn_lint(path: Path = TEMPLATE) -> subprocess.CompletedProcess[str]:
    """cfn-lint on the SAM template (cfn-lint applies the transform itself)."""
    executable = find_cfn_lint()
    if executable is None:
        raise FileNotFoundError("cfn-lint is not installed: run `scripts/dev setup`")
    return subprocess.run([executable, "--format", "parseable", str(path)], capture_output=True, text=True)


def run_checkov(expanded: Template) -> dict[str, Any]:
    """checkov on the expanded template and the Dockerfiles; returns ``{"failed": [...], "passed": n, ...}``.

    Checks in the skip list are passed as ``--skip-check``; every other failure is reported.
    """
    executable = find_checkov()
    if executable is None:
        raise FileNotFoundError(
            "checkov is not installed: `scripts/dev test` installs it into .tools/checkov "
            "(from deploy/tools/checkov.lock.txt) and puts it on PATH"
        )
    with tempfile.TemporaryDirectory(prefix="checkov-") as work:
        folder = Path(work)
        (folder / "template.json").write_text(json.dumps(expanded, indent=1))
        for dockerfile in DOCKERFILES:
            # checkov recognises Dockerfiles by name: keep the image name in the file name.
            shutil.copy(dockerfile, folder / f"Dockerfile.{dockerfile.stem}")
        command = [
            executable,
            "--directory",
            str(folder),
            "--framework",
            "cloudformation",
            "dockerfile",
            "--output",
            "json",
            "--compact",
            "--skip-download",
        ]
        skips = sorted(checkov_skips())
        if skips:
            command += ["--skip-check", ",".join(skips)]
        env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=work)
    return _summarise(result)


def _summarise(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    text = result.stdout.strip()
    if not text:
        raise RuntimeError(f"checkov printed nothing (exit {result.returncode}): {result.stderr[-2000:]}")
    reports = json.loads(text)
    if isinstance(reports, dict):
        reports = [reports]
    failed: list[dict[str, str]] = []
    passed = 0
    frameworks: list[str] = []
    for report in reports:
        frameworks.append(str(report.get("check_type")))
        results = report.get("results", {})
        passed += len(results.get("passed_checks", []))
        failed += [
            {
                "check": item["check_id"],
                "name": item.get("check_name", ""),
                "resource": item.get("resource", ""),
                "file": item.get("file_path", ""),
            }
            for item in results.get("failed_checks", [])
        ]
    return {"failed": failed, "passed": passed, "frameworks": frameworks, "exit_code": result.returncode}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--expand", action="store_true", help="print the expanded template and exit")
    args = parser.parse_args(argv)
    expanded = expand()
    if args.expand:
        sys.stdout.write(json.dumps(expanded, indent=1) + "\n")
        return 0
    lint = run_cfn_lint()
    sys.stdout.write(f"cfn-lint: {'clean' if lint.returncode == 0 else lint.stdout}\n")
    report = run_checkov(expanded)
    sys.stdout.write(f"checkov: {report['passed']} passed, {len(report['failed'])} failed\n")
    for item in report["failed"]:
        sys.stdout.write(f"  {item['check']} {item['resource']}: {item['name']}\n")
    return 0 if lint.returncode == 0 and not report["failed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
