"""Output contracts of the smoke tools: one query JSON, summary.json, and the two S3 summaries.

All are ``ContractModel``s (frozen, strict, unknown fields rejected); read JSON text with
``Model.model_validate_json``. Their JSON Schemas are committed under ``forecast_smoke/schemas/``
(``python -m forecast_smoke.schemas`` regenerates them; a test fails on drift).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, WithJsonSchema

from forecast_core.base import ContractModel, Message, UtcDatetime
from forecast_core.points import Latitude, Longitude

QueryStatus = Literal["ok", "empty", "failed"]
"""``ok``: at least one finite value; ``empty``: the read worked but every value is missing
(the point lies where the store has no data); ``failed``: the source or the read raised."""

TransferStatus = Literal["ok", "failed"]
Step = Literal["zarr-query", "s3-upload", "s3-read"]
# member × lead matrix; the schema says ``type: [number, null]`` per element rather than pydantic's
# ``anyOf``, which makes jsonschema validation of a 51 × 181 trace several times faster.
TraceValues = Annotated[
    list[list[float | None]],
    WithJsonSchema({"type": "array", "items": {"type": "array", "items": {"type": ["number", "null"]}}}),
]
PayloadKind = Literal["query", "summary", "upload_summary", "other", "unreadable"]


class Rollup(ContractModel):
    """Latency and throughput of one step; also one row of the rollup CSV.

    Latencies are over every item (failed ones included); throughput divides by the step's wall
    time. ``bytes`` counts payload bytes returned (queries, reads) or sent (uploads).
    """

    step: Step
    count: NonNegativeInt
    ok: NonNegativeInt
    failed: NonNegativeInt
    p50_seconds: NonNegativeFloat | None
    p95_seconds: NonNegativeFloat | None
    wall_seconds: NonNegativeFloat
    bytes: NonNegativeInt
    items_per_second: NonNegativeFloat
    bytes_per_second: NonNegativeFloat


class QueryMetrics(ContractModel):
    """What one query cost and whether it worked."""

    duration_seconds: NonNegativeFloat
    elements: NonNegativeInt
    estimated_bytes: NonNegativeInt
    status: QueryStatus
    error: Message | None = None
    attempts: Annotated[int, Field(ge=1)] = 1


class RequestedPoint(ContractModel):
    """The point asked for (from a points file, or drawn at random)."""

    latitude: Latitude
    longitude: Longitude
    point_id: str | None = None
    point_name: str | None = None


class QueryResult(ContractModel):
    """``Qnn_<source>.json``: one point trace, all members × leads of one variable, newest init.

    ``values[m][l]`` is member ``members[m]`` at lead ``lead_hours[l]``; ``null`` is missing.
    On failure the payload lists are empty and ``metrics.error`` says why.
    """

    schema_version: Literal[1] = 1
    query_id: Annotated[str, Field(pattern=r"^Q[0-9]{2,}$")]
    source_id: str
    dataset_id: str
    variable: str
    units: str | None = None
    requested: RequestedPoint
    grid_latitude: float | None = None
    grid_longitude: float | None = None
    init_time: UtcDatetime | None = None
    members: list[int] = []
    lead_hours: list[float] = []
    valid_times: list[UtcDatetime] = []
    values: TraceValues = []
    started_utc: UtcDatetime
    metrics: QueryMetrics


class QuerySummaryItem(ContractModel):
    """One query's line in ``summary.json``."""

    query_id: str
    source_id: str
    file: str
    status: QueryStatus
    duration_seconds: NonNegativeFloat
    elements: NonNegativeInt
    estimated_bytes: NonNegativeInt
    error: Message | None = None


class QuerySummary(ContractModel):
    """``summary.json`` of ``smoke zarr-query``."""

    schema_version: Literal[1] = 1
    step: Literal["zarr-query"] = "zarr-query"
    registry: str
    variable: str
    point_mode: Literal["points-file", "random"]
    seed: int | None = None
    started_utc: UtcDatetime
    finished_utc: UtcDatetime
    queries: list[QuerySummaryItem]
    rollup: Rollup


class UploadItem(ContractModel):
    """One uploaded file. ``retry_attempts`` is botocore's count of retried requests."""

    file: str
    key: str
    bytes: NonNegativeInt
    duration_seconds: NonNegativeFloat
    status: TransferStatus
    retry_attempts: NonNegativeInt = 0
    error: Message | None = None


class UploadSummary(ContractModel):
    """``s3_upload_summary.json`` (written into the input folder)."""

    schema_version: Literal[1] = 1
    step: Literal["s3-upload"] = "s3-upload"
    bucket: str
    prefix: str
    endpoint_url: str | None = None
    started_utc: UtcDatetime
    finished_utc: UtcDatetime
    files: list[UploadItem]
    rollup: Rollup


class ReadItem(ContractModel):
    """One object read back; ``query_status`` is the payload's own status, when it has one."""

    key: str
    local_file: str | None = None
    bytes: NonNegativeInt
    duration_seconds: NonNegativeFloat
    status: TransferStatus
    payload_kind: PayloadKind
    query_status: QueryStatus | None = None
    retry_attempts: NonNegativeInt = 0
    error: Message | None = None


class ReadSummary(ContractModel):
    """``s3_read_summary.json`` (written into the output folder)."""

    schema_version: Literal[1] = 1
    step: Literal["s3-read"] = "s3-read"
    bucket: str
    prefix: str
    endpoint_url: str | None = None
    started_utc: UtcDatetime
    finished_utc: UtcDatetime
    objects: list[ReadItem]
    rollup: Rollup
