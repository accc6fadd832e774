"""``forecast-panel smoke …`` end to end: tiny sample sources, a moto server, schema-checked outputs."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from forecast_cli.main import main
from forecast_smoke.models import QueryResult, QuerySummary, ReadSummary, UploadSummary
from forecast_smoke.schemas import SchemaViolation, validate_document, validate_file

pytestmark = pytest.mark.xdist_group("smoke")


def _points_file(path: Path, points: list[tuple[str, float, float]]) -> Path:
    stamp = "2026-11-01T00:00:00Z"
    document = {
        "schema_version": 1,
        "generated_utc": stamp,
        "points": [
            {"point_id": pid, "point_name": pid.title(), "latitude": lat, "longitude": lon, "created_by": "tests",
             "created_utc": stamp, "updated_utc": stamp, "tags": [], "enabled": True}
            for pid, lat, lon in points
        ],
    }  # fmt: skip
    path.write_text(json.dumps(document))
    return path


def _run_queries(tiny_samples: Path, out: Path, *extra: str) -> int:
    registry = tiny_samples / "source_registry.json"
    return main(["smoke", "zarr-query", "--registry", str(registry), "--output-dir", str(out), *extra])


def test_zarr_query_random_points_writes_valid_outputs(tiny_samples: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "local_zarr"
    log_file, rollup_csv = out / "query_performance.log", tmp_path / "rollup.csv"
    code = _run_queries(
        tiny_samples, out, "--max-queries", "4", "--seed", "7", "--log-file", str(log_file),
        "--rollup-csv", str(rollup_csv), "--run-id", "t1", "--emf",
    )  # fmt: skip
    assert code == 0
    names = sorted(path.name for path in out.glob("Q*.json"))
    assert names == ["Q01_gefs.json", "Q02_ecmwf_ifs_ens.json", "Q03_gefs.json", "Q04_ecmwf_ifs_ens.json"]
    for name in names:
        validate_file("smoke_query", out / name)
        result = QueryResult.model_validate_json((out / name).read_bytes())
        assert result.metrics.status == "ok" and result.metrics.error is None
        assert len(result.values) == len(result.members) == 5
        assert all(len(row) == len(result.lead_hours) == len(result.valid_times) for row in result.values)
        assert result.metrics.elements == 5 * len(result.lead_hours)
        assert result.metrics.estimated_bytes == 4 * result.metrics.elements  # float32
        assert result.units == "degree_Celsius"
        assert abs(result.grid_latitude - result.requested.latitude) <= 0.125 + 1e-9
    validate_file("smoke_summary", out / "summary.json")
    summary = QuerySummary.model_validate_json((out / "summary.json").read_bytes())
    assert [item.status for item in summary.queries] == ["ok"] * 4
    assert summary.point_mode == "random" and summary.seed == 7
    assert summary.rollup.count == 4 and summary.rollup.ok == 4 and summary.rollup.p95_seconds is not None
    lines = log_file.read_text().splitlines()
    assert sum(" Q0" in line and "status=ok" in line for line in lines) == 4
    rows = list(csv.DictReader(rollup_csv.open()))
    assert rows[0]["step"] == "zarr-query" and rows[0]["run_id"] == "t1" and rows[0]["count"] == "4"
    assert float(rows[0]["p50_seconds"]) <= float(rows[0]["p95_seconds"])
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ForecastPanel/Smoke"
    assert emf[0]["step"] == "zarr-query" and emf[0]["SmokeItems"] == [4.0]


def test_zarr_query_points_file_reports_empty_and_failed(tiny_samples: Path, tmp_path: Path) -> None:
    inside, outside = ("inside", 39.9, -105.9), ("outside", 10.0, 20.0)
    points = _points_file(tmp_path / "points.json", [inside, outside])
    registry = json.loads((tiny_samples / "source_registry.json").read_text())
    registry["sources"][1]["location"]["url"] = str(tmp_path / "missing.icechunk")
    broken = tmp_path / "registry.json"
    broken.write_text(json.dumps(registry))
    out = tmp_path / "q"
    code = main([
        "smoke", "zarr-query", "--registry", str(broken), "--output-dir", str(out), "--points", str(points),
        "--max-queries", "4", "--retries", "1", "--variable", "temperature_2m",
    ])  # fmt: skip
    assert code == 1
    summary = QuerySummary.model_validate_json((out / "summary.json").read_bytes())
    validate_file("smoke_summary", out / "summary.json")
    # Q01 gefs@inside, Q02 ifs@outside (source missing), Q03 gefs@inside, Q04 ifs@outside
    assert [(item.source_id, item.status) for item in summary.queries] == [
        ("gefs", "ok"), ("ecmwf_ifs_ens", "failed"), ("gefs", "ok"), ("ecmwf_ifs_ens", "failed"),
    ]  # fmt: skip
    failed = QueryResult.model_validate_json((out / "Q02_ecmwf_ifs_ens.json").read_bytes())
    assert "missing.icechunk" in (failed.metrics.error or "") and failed.values == []
    assert summary.point_mode == "points-file" and summary.rollup.failed == 2
    # the outside point on a working source is "empty", not "ok"
    code = main([
        "smoke", "zarr-query", "--registry", str(tiny_samples / "source_registry.json"), "--output-dir",
        str(tmp_path / "q2"), "--points", str(_points_file(tmp_path / "p2.json", [outside])), "--max-queries", "1",
    ])  # fmt: skip
    assert code == 1
    empty = QueryResult.model_validate_json((tmp_path / "q2" / "Q01_gefs.json").read_bytes())
    assert empty.metrics.status == "empty" and empty.metrics.elements > 0


@pytest.mark.aws
def test_upload_read_and_cloudwatch_on_moto(tiny_samples: Path, tmp_path: Path, moto: str, s3_bucket: str) -> None:
    out = tmp_path / "local_zarr"
    assert _run_queries(tiny_samples, out, "--max-queries", "2", "--seed", "3") == 0
    prefix = "dashboard/test/local_zarr"
    rollup_csv = tmp_path / "rollup.csv"
    code = main([
        "smoke", "s3-upload", "--bucket", s3_bucket, "--prefix", prefix, "--input-dir", str(out),
        "--log-file", str(tmp_path / "s3_upload.log"), "--endpoint-url", moto, "--rollup-csv", str(rollup_csv),
        "--cloudwatch",
    ])  # fmt: skip
    assert code == 0
    validate_file("s3_upload_summary", out / "s3_upload_summary.json")
    upload = UploadSummary.model_validate_json((out / "s3_upload_summary.json").read_bytes())
    assert [item.key for item in upload.files] == [
        f"{prefix}/Q01_gefs.json", f"{prefix}/Q02_ecmwf_ifs_ens.json", f"{prefix}/summary.json",
    ]  # fmt: skip
    s3 = boto3.client("s3", endpoint_url=moto)
    listed = s3.list_objects_v2(Bucket=s3_bucket, Prefix=prefix)["Contents"]
    assert {entry["Key"]: entry["Size"] for entry in listed} == {item.key: item.bytes for item in upload.files}
    assert "s3://" in (tmp_path / "s3_upload.log").read_text()

    read_dir = tmp_path / "s3_read"
    # AWS_ENDPOINT_URL (set by the moto fixture) is the endpoint when --endpoint-url is absent
    code = main([
        "smoke", "s3-read", "--bucket", s3_bucket, "--prefix", prefix, "--max-files", "2", "--output-dir",
        str(read_dir), "--log-file", str(tmp_path / "s3_read.log"), "--rollup-csv", str(rollup_csv), "--cloudwatch",
    ])  # fmt: skip
    assert code == 0
    validate_file("s3_read_summary", read_dir / "s3_read_summary.json")
    read = ReadSummary.model_validate_json((read_dir / "s3_read_summary.json").read_bytes())
    assert [(item.payload_kind, item.query_status) for item in read.objects] == [("query", "ok"), ("query", "ok")]
    assert (read_dir / "Q01_gefs.json").read_bytes() == (out / "Q01_gefs.json").read_bytes()
    assert read.endpoint_url == moto
    assert [row["step"] for row in csv.DictReader(rollup_csv.open())] == ["s3-upload", "s3-read"]

    cloudwatch = boto3.client("cloudwatch", endpoint_url=moto)
    metrics = cloudwatch.list_metrics(Namespace="ForecastPanel/Smoke")["Metrics"]
    steps = {dim["Value"] for metric in metrics for dim in metric["Dimensions"] if dim["Name"] == "step"}
    assert steps == {"s3-upload", "s3-read"}
    assert {metric["MetricName"] for metric in metrics} >= {"SmokeItems", "SmokeFailures", "SmokeLatencyP95Seconds"}


@pytest.mark.aws
def test_s3_read_of_missing_bucket_fails_cleanly(tmp_path: Path, moto: str) -> None:
    code = main(
        ["smoke", "s3-read", "--bucket", "no-such-bucket", "--output-dir", str(tmp_path), "--max-attempts", "1"]
    )
    assert code == 1
    assert not (tmp_path / "s3_read_summary.json").exists()


@pytest.mark.aws
def test_zarr_query_on_sample_sources_in_s3(tmp_path: Path, moto: str, s3_bucket: str) -> None:
    from extraction.sample_sources.cli import write_samples

    base = f"s3://{s3_bucket}/samples"
    write_samples(base, size="tiny", endpoint_url=moto, dataset_ids=("noaa-gefs-forecast-35-day",))
    out = tmp_path / "q"
    code = main([
        "smoke", "zarr-query", "--registry", f"{base}/source_registry.json", "--output-dir", str(out),
        "--max-queries", "2", "--bbox", "39.2,40.3,-106.8,-105.2", "--seed", "1",
    ])  # fmt: skip
    assert code == 0
    summary = QuerySummary.model_validate_json((out / "summary.json").read_bytes())
    assert [item.status for item in summary.queries] == ["ok", "ok"]
    assert summary.registry.startswith("s3://")
    # a points file on S3 too, as the scheduled run reads the store's pre_canned_points.json
    points = _points_file(tmp_path / "points.json", [("cabin", 39.6, -106.1)])
    boto3.client("s3", endpoint_url=moto).upload_file(str(points), s3_bucket, "config/points.json")
    code = main([
        "smoke", "zarr-query", "--registry", f"{base}/source_registry.json", "--output-dir", str(tmp_path / "p"),
        "--max-queries", "1", "--points", f"s3://{s3_bucket}/config/points.json",
    ])  # fmt: skip
    assert code == 0
    result = QueryResult.model_validate_json((tmp_path / "p" / "Q01_gefs.json").read_bytes())
    assert result.requested.point_id == "cabin" and result.metrics.status == "ok"
    missing = ["smoke", "zarr-query", "--output-dir", str(tmp_path / "x"), "--registry"]
    assert main([*missing, f"s3://{s3_bucket}/nothing.json"]) == 2
    assert main([*missing, str(tmp_path / "nothing.json")]) == 2


def test_plot_writes_a_png(tiny_samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "local_zarr"
    assert _run_queries(tiny_samples, out, "--max-queries", "3", "--seed", "5") == 0
    png = out / "trace_preview.png"
    # through the console script once, as a user runs it
    result = subprocess.run(
        [str(Path(sys.executable).parent / "forecast-panel"), "smoke", "plot", "--input-dir", str(out),
         "--output", str(png), "--max-series", "2"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    import matplotlib.image

    image = matplotlib.image.imread(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.shape[0] > 300 and image.shape[1] > 700  # two panels side by side
    assert main(["smoke", "plot", "--input-dir", str(tmp_path / "nothing"), "--output", str(tmp_path / "x.png")]) == 2


def test_schema_validation_rejects_bad_documents(tiny_samples: Path, tmp_path: Path) -> None:
    out = tmp_path / "q"
    assert _run_queries(tiny_samples, out, "--max-queries", "1", "--seed", "2") == 0
    document = json.loads((out / "Q01_gefs.json").read_text())
    document["metrics"]["status"] = "fine"
    with pytest.raises(SchemaViolation, match="metrics/status"):
        validate_document("smoke_query", document)
    document = json.loads((out / "summary.json").read_text())
    document["unexpected"] = 1
    with pytest.raises(SchemaViolation):
        validate_document("smoke_summary", document)


@pytest.mark.aws
def test_upload_to_a_missing_bucket_records_each_failure(tiny_samples: Path, tmp_path: Path, moto: str) -> None:
    out = tmp_path / "q"
    assert _run_queries(tiny_samples, out, "--max-queries", "1", "--seed", "4") == 0
    code = main(["smoke", "s3-upload", "--bucket", "no-such-bucket", "--input-dir", str(out), "--max-attempts", "1"])
    assert code == 1
    validate_file("s3_upload_summary", out / "s3_upload_summary.json")
    upload = UploadSummary.model_validate_json((out / "s3_upload_summary.json").read_bytes())
    assert [item.status for item in upload.files] == ["failed", "failed"]
    assert all("NoSuchBucket" in (item.error or "") for item in upload.files)
    assert upload.rollup.failed == 2 and upload.rollup.bytes == 0


def test_source_open_is_retried_on_transient_errors(tiny_samples: Path) -> None:
    from extraction.sources import open_source
    from forecast_smoke.query import load_registry, open_with_retry
    from forecast_smoke.retry import RetryPolicy

    source = load_registry(str(tiny_samples / "source_registry.json")).get("gefs")
    calls: list[int] = []

    def flaky(entry):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("cannot open") from TimeoutError("read timed out")
        return open_source(entry)

    dataset = open_with_retry(source, RetryPolicy(attempts=3, initial_wait=0.01), flaky)
    assert len(calls) == 2 and "temperature_2m" in dataset
    calls.clear()
    error = open_with_retry(source, RetryPolicy(attempts=3, initial_wait=0.01), lambda entry: calls.append(1) or 1 / 0)
    assert isinstance(error, ZeroDivisionError) and len(calls) == 1
