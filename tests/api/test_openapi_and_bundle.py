"""The committed OpenAPI document is current, and the Lambda bundle stays light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from points_api.app import openapi_json
from points_api.openapi import DOCUMENT

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ["pyarrow", "numpy", "dask", "distributed", "xarray", "panel", "bokeh", "holoviews", "extraction",
         "forecast_panel", "forecast_alerts"]  # fmt: skip


def test_committed_openapi_document_is_current() -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == openapi_json(), "run: python -m points_api.openapi"
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    assert set(document["paths"]) == {"/health", "/points", "/points/{point_id}", "/rules", "/rules/{rule_id}"}
    assert set(document["paths"]["/points/{point_id}"]) == {"patch", "delete"}
    assert set(document["paths"]["/rules/{rule_id}"]) == {"get", "patch", "delete"}
    rules_post = document["paths"]["/rules"]["post"]
    assert rules_post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/RulePayload")
    assert set(rules_post["responses"]) == {"201", "409", "413", "422", "503"}
    post = document["paths"]["/points"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/PointPayload")
    assert set(post["responses"]) == {"201", "409", "413", "422"}
    assert "HTTPValidationError" not in json.dumps(document)


def test_lambda_handler_imports_no_heavy_dependency() -> None:
    code = (
        "import sys; import points_api.handler, points_api.dynamo, points_api.local_server, points_api.rules_dynamo, "
        "points_api.rules_store, points_api.rule_routes; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT / "lambda"
    )
    assert result.stdout.strip() == "", f"the Lambda bundle imports {result.stdout.strip()}"
