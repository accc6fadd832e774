"""The misbehaving S3 proxy: faithful forwarding (SigV4 still verifies), each fault kind, seeded
plans, predicates and the command line."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ResponseStreamingError

from forecast_smoke.proxy_process import proxy_arguments, proxy_process
from forecast_smoke.s3_faults import (
    FAULT_KINDS,
    FaultDecider,
    FaultPlan,
    RequestInfo,
    RequestPredicate,
    conditional_write,
    dynamodb_action,
)
from forecast_smoke.s3_proxy import S3FaultProxy

pytestmark = pytest.mark.aws
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})
BUCKET = "proxy-test"


@pytest.fixture(autouse=True)
def _quiet_moto_request_log(quiet_moto_log: None) -> None:
    """Every proxy test: moto's request log off."""


@pytest.fixture
def proxy(moto: str) -> Iterator[S3FaultProxy]:
    with S3FaultProxy(moto) as running:
        boto3.client("s3", endpoint_url=moto).create_bucket(Bucket=BUCKET)
        yield running


def s3(url: str, config: Config | None = None, **credentials: str) -> Any:
    return boto3.client("s3", endpoint_url=url, config=config or NO_RETRIES, **credentials)


def test_requests_pass_through_unchanged(proxy: S3FaultProxy, moto: str) -> None:
    client = s3(proxy.url)
    large = bytes(range(256)) * 12_000  # above the buffered size: streamed both ways
    client.put_object(Bucket=BUCKET, Key="large", Body=large)
    client.put_object(Bucket=BUCKET, Key="small", Body=b"small")
    assert client.get_object(Bucket=BUCKET, Key="large")["Body"].read() == large
    assert client.get_object(Bucket=BUCKET, Key="large", Range="bytes=10-19")["Body"].read() == large[10:20]
    assert client.head_object(Bucket=BUCKET, Key="large")["ContentLength"] == len(large)
    assert [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["large", "small"]
    client.delete_object(Bucket=BUCKET, Key="small")
    assert s3(moto).list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1
    with pytest.raises(ClientError) as missing:
        client.get_object(Bucket=BUCKET, Key="small")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"
    assert proxy.stats().requests == 8 and not proxy.stats().faults


def test_chunked_request_bodies_are_forwarded(proxy: S3FaultProxy, moto: str) -> None:
    parts = urlsplit(proxy.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port)
    connection.request("PUT", f"/{BUCKET}/chunked", body=iter([b"first ", b"second"]), encode_chunked=True)
    assert connection.getresponse().status == 200
    connection.close()
    assert s3(moto).get_object(Bucket=BUCKET, Key="chunked")["Body"].read() == b"first second"


def test_signatures_still_verify_at_moto(proxy: S3FaultProxy, moto: str) -> None:
    iam = boto3.client("iam", endpoint_url=moto)
    iam.create_user(UserName="prober")
    iam.put_user_policy(
        UserName="prober",
        PolicyName="all",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName="prober")["AccessKey"]
    good = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    bad = {**good, "aws_secret_access_key": "not-the-secret"}
    _set_moto_auth(moto, "0")
    try:
        s3(proxy.url, aws_session_token="", **good).put_object(Bucket=BUCKET, Key="signed", Body=b"x" * 2_000_000)
        dynamodb = boto3.client("dynamodb", endpoint_url=proxy.url, aws_session_token="", **good)
        assert "TableNames" in dynamodb.list_tables()
        with pytest.raises(ClientError) as rejected:
            s3(proxy.url, aws_session_token="", **bad).put_object(Bucket=BUCKET, Key="forged", Body=b"x")
    finally:
        _set_moto_auth(moto, "inf")
    assert rejected.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert s3(moto).head_object(Bucket=BUCKET, Key="signed")["ContentLength"] == 2_000_000


def _set_moto_auth(moto: str, count: str) -> None:
    request = urllib.request.Request(
        f"{moto}/moto-api/reset-auth", data=count.encode(), method="POST", headers={"Content-Type": "text/plain"}
    )
    urllib.request.urlopen(request, timeout=10).close()


@pytest.mark.parametrize(
    ("kind", "status", "code"), [("slowdown", 503, "SlowDown"), ("internal", 500, "InternalError")]
)
def test_service_errors_are_proper_s3_errors(proxy: S3FaultProxy, moto: str, kind: str, status: int, code: str) -> None:
    proxy.plan = FaultPlan(rate=1.0, kinds=(kind,))
    with pytest.raises(ClientError) as failed:
        s3(proxy.url).put_object(Bucket=BUCKET, Key="k", Body=b"v")
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert failed.value.response["Error"]["Code"] == code
    assert s3(moto).list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0  # never reached upstream
    assert proxy.stats().faults == {kind: 1}
    s3(moto).put_object(Bucket=BUCKET, Key="k", Body=b"v")
    client = s3(proxy.url)
    proxy.plan = FaultPlan(rate=1.0, kinds=(kind,), limit=1)
    with pytest.raises(ClientError) as head:
        client.head_object(Bucket=BUCKET, Key="k")
    assert head.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert client.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"v"  # same connection, not desynchronised


def test_dynamodb_errors_are_dynamodb_errors(proxy: S3FaultProxy) -> None:
    dynamodb = boto3.client("dynamodb", endpoint_url=proxy.url, config=NO_RETRIES)
    proxy.plan = FaultPlan(rate=1.0, kinds=("slowdown",), match=dynamodb_action("ListTables"))
    with pytest.raises(ClientError) as throttled:
        dynamodb.list_tables()
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    proxy.plan = FaultPlan(rate=1.0, kinds=("internal",))
    with pytest.raises(ClientError) as internal:
        dynamodb.list_tables()
    assert internal.value.response["Error"]["Code"] == "InternalServerError"


def test_reset_loses_the_request_and_lost_response_applies_it(proxy: S3FaultProxy, moto: str) -> None:
    direct = s3(moto)
    proxy.plan = FaultPlan(rate=1.0, kinds=("reset",))
    with pytest.raises(ConnectionClosedError):
        s3(proxy.url).put_object(Bucket=BUCKET, Key="reset", Body=b"v")
    assert direct.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
    proxy.plan = FaultPlan(rate=1.0, kinds=("lost_response",))
    with pytest.raises(ConnectionClosedError):
        s3(proxy.url).put_object(Bucket=BUCKET, Key="lost", Body=b"v")
    assert direct.get_object(Bucket=BUCKET, Key="lost")["Body"].read() == b"v"
    assert proxy.stats().faults == {"reset": 1, "lost_response": 1}


def test_truncated_bodies_fail_loudly_and_slow_answers_arrive(proxy: S3FaultProxy, moto: str) -> None:
    s3(moto).put_object(Bucket=BUCKET, Key="k", Body=b"0123456789")
    client = s3(proxy.url)
    proxy.plan = FaultPlan(rate=1.0, kinds=("truncate",))
    with pytest.raises(ResponseStreamingError):
        client.get_object(Bucket=BUCKET, Key="k")["Body"].read()
    client.head_object(Bucket=BUCKET, Key="k")  # no body to cut: passes, counts no fault
    proxy.plan = FaultPlan(rate=1.0, kinds=("slow",), slow_seconds=0.05)
    assert client.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"0123456789"
    assert proxy.stats().faults == {"truncate": 1, "slow": 1}


def test_draws_are_seeded_by_rank_among_matched_requests() -> None:
    def draws(seed: int, paths: list[str], match: RequestPredicate | None = None) -> list[str | None]:
        decider = FaultDecider(FaultPlan(rate=0.3, seed=seed, match=match))
        return [decider.decide(RequestInfo("PUT", path, {}))[0] for path in paths]

    first = draws(7, [f"/b/k{index}" for index in range(50)])
    faulted = [kind for kind in first if kind is not None]
    assert 5 <= len(faulted) <= 30 and len(set(faulted)) > 2
    assert draws(7, [f"/other/{index}-random" for index in range(50)]) == first  # keys do not matter
    assert draws(8, [f"/b/k{index}" for index in range(50)]) != first
    paths = [f"/b/{'x' if index % 2 else 'k'}{index}" for index in range(100)]
    mixed = draws(7, paths, match=lambda request: "/b/k" in request.path)
    assert [kind for index, kind in enumerate(mixed) if index % 2 == 0] == first  # unmatched requests draw nothing
    assert all(kind is None for index, kind in enumerate(mixed) if index % 2)


def test_plans_are_limited_and_targeted(proxy: S3FaultProxy) -> None:
    client = s3(proxy.url, config=Config(retries={"mode": "standard", "total_max_attempts": 3}))
    proxy.plan = FaultPlan(rate=1.0, kinds=("internal",), match=conditional_write, limit=1)
    client.put_object(Bucket=BUCKET, Key="plain", Body=b"v")
    client.put_object(Bucket=BUCKET, Key="new", Body=b"v", IfNoneMatch="*")  # fails once, retried
    client.put_object(Bucket=BUCKET, Key="new2", Body=b"v", IfNoneMatch="*")
    assert proxy.stats().injected == [("internal", "PUT", f"/{BUCKET}/new")]
    assert proxy.stats().requests == 4
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultPlan(kinds=("gremlins",))


def test_the_command_line_serves_until_sigterm(moto: str) -> None:
    with proxy_process(moto, latency_ms=1, bandwidth_mbps=200, fault_rate=0.0, faults=FAULT_KINDS) as url:
        client = s3(url)
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key="k", Body=b"z" * 300_000)
        assert client.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"z" * 300_000
    for stop in (signal.SIGTERM, signal.SIGINT):
        process = subprocess.Popen(proxy_arguments(moto, latency_ms=0), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert process.stdout is not None
        out = process.stdout.readline()
        assert json.loads(out)["url"].startswith("http://127.0.0.1:")
        process.send_signal(stop)
        rest, errors = process.communicate(timeout=20)
        assert process.returncode == 0 and rest == b"" and errors == b"", (stop, errors)
    bad = subprocess.run(
        [sys.executable, "-m", "forecast_smoke.s3_proxy", "--upstream", moto, "--faults", "gremlins"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "unknown fault kinds" in bad.stderr


def test_the_smoke_read_rereads_bodies_cut_short(proxy: S3FaultProxy, moto: str, tmp_path: Path) -> None:
    from forecast_smoke.transfer import read_prefix

    payloads = {f"out/q{index}.json": bytes([index]) * (1000 + index) for index in range(6)}
    for key, body in payloads.items():
        s3(moto).put_object(Bucket=BUCKET, Key=key, Body=body)
    proxy.plan = FaultPlan(rate=0.5, kinds=("truncate",), seed=3, match=lambda request: request.method == "GET")
    summary = read_prefix(s3(proxy.url), BUCKET, "out", tmp_path, max_files=10)
    assert proxy.stats().faults["truncate"] >= 2
    assert [item.status for item in summary.objects] == ["ok"] * 6
    assert {item.key: (tmp_path / str(item.local_file)).read_bytes() for item in summary.objects} == payloads
    assert sum(item.retry_attempts for item in summary.objects) == proxy.stats().faults["truncate"]
