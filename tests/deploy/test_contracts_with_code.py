"""The stack against the code it runs: CLI commands parse, the Lambda finds its handler and settings,
and each image's locked dependency set stays within its extra."""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from forecast_cli.main import build_parser

from .conftest import ROOT, of_type, render

BUCKET_URL = "s3://artifact-bucket"


def command_of(resources: dict[str, Any], definition: str) -> list[str]:
    (container,) = resources[definition]["Properties"]["ContainerDefinitions"]
    words = [str(render(item)) for item in container["Command"]]
    placeholders = {
        "s3://${ArtifactBucket}": BUCKET_URL,
        "${PublicHostName}": "forecast.example.org",
    }
    words = [placeholders.get(word, word) for word in words]
    return [word.replace("${PointsApi}", "abc123").replace("${AWS::Region}", "us-east-1") for word in words]


@pytest.mark.parametrize(
    ("definition", "subcommand"),
    [
        ("AppTaskDefinition", "serve"),
        ("ExtractionTaskDefinition", "extract"),
        ("InventoryTaskDefinition", "inventory"),
        ("AlertsTaskDefinition", "alerts"),
    ],
)
def test_container_commands_parse_with_the_real_cli(
    resources: dict[str, Any], definition: str, subcommand: str
) -> None:
    command = command_of(resources, definition)
    assert command[0] == "forecast-panel"
    args = build_parser(subcommand).parse_args(command[1:])
    assert args.command == subcommand
    assert args.store == BUCKET_URL
    if subcommand == "alerts":
        assert args.action == "evaluate"
    if subcommand == "serve":
        assert args.port == 5006 and args.address == "0.0.0.0"
        assert args.allow_websocket_origin == ["forecast.example.org"]
        assert args.use_xheaders is True
        assert args.api.startswith("https://abc123.execute-api.us-east-1.")


def test_the_apis_targeted_extraction_command_parses() -> None:
    from points_api.extraction_trigger import extract_command

    command = extract_command(BUCKET_URL, "cabin")
    args = build_parser("extract").parse_args(command)
    assert (args.command, args.store, args.points) == ("extract", BUCKET_URL, ["cabin"])


def test_lambda_handler_exists() -> None:
    from points_api import handler

    assert callable(handler.lambda_handler)


def _environment_names(path: Path) -> set[str]:
    """Names read with os.environ.get("X") / os.environ["X"] / a helper called with a literal name."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            value = node.args[0].value
            if isinstance(value, str) and value.isupper() and "_" in value:
                names.add(value)
    return names


def test_lambda_environment_covers_the_settings(resources: dict[str, Any]) -> None:
    function = of_type(resources, "AWS::Lambda::Function")["PointsApiFunction"]
    provided = set(function["Environment"]["Variables"])
    read = _environment_names(ROOT / "lambda" / "points_api" / "settings.py")
    optional = {
        "POINTS_API_STORE_URL",  # embedded (local) mode only
        "FORECAST_STORE_URL",  # embedded (local) mode only
        "AWS_ENDPOINT_URL",  # moto / MinIO only
        "POINTS_API_TARGETED_EXTRACTION",  # on by default
    }
    assert read - optional <= provided, f"not set in the template: {sorted(read - optional - provided)}"


def _uv() -> str:
    found = shutil.which("uv") or str(ROOT / ".tools" / "uv" / "bin" / "uv")
    if not Path(found).exists():
        pytest.skip("uv is not installed")
    return found


@pytest.mark.parametrize(
    ("extra", "forbidden"),
    [
        ("lambda", {"pyarrow", "dask", "distributed", "panel", "xarray", "numpy", "bokeh"}),
        # aws-lambda-powertools is a core dependency: its Metrics is the one EMF writer (forecast_core.observability)
        ("app", {"dask", "distributed", "xarray", "icechunk", "zarr"}),
        ("extraction", {"panel", "holoviews", "geoviews", "cartopy"}),
    ],
)
def test_image_dependency_sets_stay_within_their_extra(extra: str, forbidden: set[str]) -> None:
    result = subprocess.run(
        [_uv(), "export", "--locked", "--offline", "--no-dev", "--extra", extra, "--no-emit-project", "--no-hashes"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    names = {
        line.split("==")[0].strip().lower()
        for line in result.stdout.splitlines()
        if "==" in line and not line.startswith("#")
    }
    assert names, "uv export listed no packages"
    assert not names & forbidden, f"the {extra} image would install {sorted(names & forbidden)}"
