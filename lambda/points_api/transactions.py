"""DynamoDB transactions whose outcome is always known, even when an answer is lost.

A ``TransactWriteItems`` can commit while its answer never arrives (a dropped connection, a
timeout). botocore then sends it again — with the same ``ClientRequestToken``, which it generates
once per call, so real DynamoDB treats the repeat as the same request for ten minutes — and our
own loop sends it again after botocore gives up. On any backend that does not deduplicate by
token (moto, or a repeat after the window), the repeat finds its own writes and fails their
conditions: a create would answer a false 409, a delete a false 404.

So every transaction also creates a marker item ``write#<token>`` (``kind="write"``, removed by
the table's TTL on ``expires_at`` after a day) with ``attribute_not_exists(pk)``, as its first
item. If a transaction is cancelled and the marker's own condition failed, the marker — and so
every other item of that transaction — was written by an earlier send: the transaction
committed, and the caller gets success. Otherwise the cancellation reasons of the other items are
returned, as DynamoDB reports them.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from botocore.exceptions import ClientError

from forecast_core.transient import RetryPolicy, retrying

MARKER_PREFIX = "write#"
MARKER_TTL_SECONDS = 24 * 3600
# after botocore's own retries: the same transaction (same token) again, a few times
SEND_RETRY = RetryPolicy(attempts=4, initial_wait=0.05, max_wait=1.0)


def marker_item(table_name: str, token: str) -> dict[str, Any]:
    """The transaction item that records ``token``'s commit."""
    expires = int(time.time()) + MARKER_TTL_SECONDS
    return {
        "Put": {
            "TableName": table_name,
            "Item": {
                "pk": {"S": f"{MARKER_PREFIX}{token}"},
                "kind": {"S": "write"},
                "expires_at": {"N": str(expires)},
            },
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def cancellation_reasons(error: ClientError) -> list[str]:
    """The per-item codes of a cancelled transaction (``"None"`` for items whose check passed)."""
    response: dict[str, Any] = error.response
    return [str(reason.get("Code", "None")) for reason in response.get("CancellationReasons", [])]


def transact_once(client: Any, table_name: str, items: list[dict[str, Any]]) -> list[str] | None:
    """Run ``items`` as one transaction, exactly once in effect.

    None when it committed (now, or by an earlier send whose answer was lost); else the
    cancellation codes of ``items`` (in order). Transient errors that outlast botocore's retries
    are retried with the same token; other errors are raised.
    """
    token = uuid.uuid4().hex
    request = [marker_item(table_name, token), *items]

    def send() -> list[str] | None:
        try:
            client.transact_write_items(TransactItems=request, ClientRequestToken=token)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = cancellation_reasons(error)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return None  # our marker is there: an earlier send of this transaction committed
            return reasons[1:]
        return None

    outcome: list[str] | None = retrying(SEND_RETRY, "points transaction")(send)
    return outcome
