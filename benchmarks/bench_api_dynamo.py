"""AWS mode of the write-back API on a moto server (DynamoDB + S3 over loopback); prints JSON.

1. Sequential creates through one repository (as one warm Lambda container): p50/p95.
2. N creates racing from N repositories (as N containers): wall time, how many conditional puts
   of the points file were tried and won (the rebuild coalesces), and that every point landed.
moto's conditional calls are not atomic under concurrency, so (as in the tests) they are
serialised per call. moto latencies are not AWS latencies: compare runs, not services.

Run: .venv/bin/python -m benchmarks.bench_api_dynamo [--points 100] [--writers 50]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import boto3

from forecast_core.points import PointPayload
from points_api.dynamo import DynamoRepository


def _serialised(call: Callable[..., object], lock: threading.Lock) -> Callable[..., object]:
    def run(**kwargs: object) -> object:
        with lock:
            return call(**kwargs)

    return run


def _payload(index: int) -> PointPayload:
    body = {"point_name": f"P {index}", "latitude": -60 + (index // 100) * 0.1, "longitude": (index % 100) * 0.1}
    return PointPayload.model_validate_json(json.dumps({**body, "created_by": "bench"}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--writers", type=int, default=50)
    args = parser.parse_args()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(name, value)
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto logs every request

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench-points")
    boto3.client("dynamodb", endpoint_url=endpoint).create_table(
        TableName="points",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    transactions, puts = threading.Lock(), threading.Lock()
    counts = {"puts_tried": 0, "puts_won": 0}

    def repository() -> DynamoRepository:
        made = DynamoRepository("points", "s3://bench-points", 0.5, endpoint)
        made.client.transact_write_items = _serialised(made.client.transact_write_items, transactions)
        made.s3.put_object = _serialised(made.s3.put_object, puts)
        conditional_write = made.store.replace_if

        def counted_write(key: str, data: bytes, expected: str | None, *, tokens: tuple[str, ...] = ()) -> bool:
            won = conditional_write(key, data, expected, tokens=tokens)
            counts["puts_tried"] += 1
            counts["puts_won"] += int(won)
            return won

        made.store.replace_if = counted_write  # type: ignore[method-assign]
        return made

    warm = repository()
    latencies = []
    for index in range(args.points):
        started = time.perf_counter()
        warm.create_point(_payload(index))
        latencies.append(time.perf_counter() - started)
    ordered = sorted(latencies)
    sequential_puts = dict(counts)
    counts.update(puts_tried=0, puts_won=0)

    writers = [repository() for _ in range(args.writers)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.writers) as pool:
        list(pool.map(lambda i: writers[i].create_point(_payload(args.points + i)), range(args.writers)))
    racing_seconds = time.perf_counter() - started
    landed = len(warm.list_points())
    server.stop()
    print(
        json.dumps(
            {
                "benchmark": "api_dynamodb_moto",
                "load_average_1m": os.getloadavg()[0],
                "cpu_count": os.cpu_count(),
                "sequential_create": {
                    "count": args.points,
                    "p50_ms": round(statistics.median(ordered) * 1000, 1),
                    "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 1),
                    **sequential_puts,
                },
                "racing_creates": {"writers": args.writers, "seconds": round(racing_seconds, 1), **counts},
                "points_in_file": landed,
                "points_expected": args.points + args.writers,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
