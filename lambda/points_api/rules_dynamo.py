"""AWS rules repository: DynamoDB is the source of truth; ``alert_rules.json`` is rebuilt after
each write (the evaluator and the app read the file, as they read the points file).

Table ``ALERT_RULES_TABLE_NAME`` (partition key ``pk`` (S)), written as the points table is
(``points_api.dynamo``), each write one ``transact_write_items``:

- ``rule#<rule_id>``: ``kind="rule"``, ``point_id``, ``dedupe`` (the rule's dedupe key) and
  ``document`` (the AlertRule's JSON);
- ``rulekey#<dedupe key>``: ``kind="rulekey"``, ``rule_id`` — one condition once per point;
- ``count#<point_id>``: ``kind="count"``, ``n`` (N) — the rules a point holds, at most
  ``MAX_RULES_PER_POINT`` (the create's condition).

Creates put the rule and its key with ``attribute_not_exists(pk)`` and raise the count under its
limit; updates and deletes are conditional on the stored ``document`` being the one read
(retried on conflict). After each write the file is rebuilt by a swap (``forecast_core.swap``) with a scan taken
after the file was read, so a put conditional on that ETag carries every committed write.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import boto3
from botocore.config import Config

from forecast_core.alerts import MAX_RULES_PER_POINT, AlertRule, RulePayload, RuleUpdate, new_rule, updated_rule
from forecast_core.layout import ALERT_RULES_KEY
from forecast_core.store import S3_RETRY_CONFIG, ArtifactStore
from points_api.errors import NotFound, StorageConflict
from points_api.repository import PointsRepository, swap_document
from points_api.rules import (
    DuplicateRule,
    RuleContext,
    RuleWriteResult,
    check_condition,
    check_rule_id,
    parse_rules,
    rules_document,
    too_many,
)
from points_api.transactions import transact_once

log = logging.getLogger(__name__)
WRITE_ATTEMPTS = 5
FAILED = "ConditionalCheckFailed"


def _item(rule: AlertRule, dedupe: str) -> dict[str, Any]:
    return {
        "pk": {"S": f"rule#{rule.rule_id}"},
        "kind": {"S": "rule"},
        "point_id": {"S": rule.point_id},
        "dedupe": {"S": dedupe},
        "document": {"S": rule.model_dump_json()},
    }


class DynamoRulesRepository:
    """RulesRepository over one DynamoDB table plus ``alert_rules.json`` in S3."""

    def __init__(
        self, table_name: str, store_url: str, points: PointsRepository, endpoint_url: str | None = None
    ) -> None:
        self.table_name = table_name
        self.points = points
        self.client = boto3.client("dynamodb", endpoint_url=endpoint_url, config=Config(**S3_RETRY_CONFIG))
        self.store = ArtifactStore(store_url, endpoint_url=endpoint_url)
        self.s3 = self.store.s3_client()  # the client the store's conditional writes go through

    def context(self) -> RuleContext:
        return RuleContext.of_store(self.store, {point.point_id for point in self.points.list_points()})

    # --- reads -------------------------------------------------------------------------------

    def scan_rules(self) -> list[AlertRule]:
        """Every rule item, by a consistent scan, sorted by id."""
        rules: list[AlertRule] = []
        for page in self.client.get_paginator("scan").paginate(
            TableName=self.table_name,
            ConsistentRead=True,
            FilterExpression="kind = :rule",
            ExpressionAttributeValues={":rule": {"S": "rule"}},
        ):
            rules += [AlertRule.model_validate_json(item["document"]["S"]) for item in page.get("Items", [])]
        return sorted(rules, key=lambda rule: rule.rule_id)

    def _get(self, key: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.client.get_item(
            TableName=self.table_name, Key={"pk": {"S": key}}, ConsistentRead=True
        ).get("Item")
        return found

    def list_rules(self, point_id: str | None = None) -> list[AlertRule]:
        """The rules file's view (what the evaluator and the app read), else the table."""
        found = self.store.read_versioned(ALERT_RULES_KEY)
        rules = parse_rules(found.data) if found is not None else self.scan_rules()
        return [rule for rule in rules if point_id is None or rule.point_id == point_id]

    # --- writes ------------------------------------------------------------------------------

    def _transact(self, items: list[dict[str, Any]]) -> list[str] | None:
        """Run the transaction exactly once in effect (``transactions.transact_once``, as for
        points); None on success, else the per-item cancellation codes."""
        return transact_once(self.client, self.table_name, items)

    def _owner(self, dedupe: str) -> DuplicateRule:
        key = self._get(f"rulekey#{dedupe}")
        item = self._get(f"rule#{key['rule_id']['S']}") if key else None
        if item is None:
            raise StorageConflict("an equal rule was created and removed concurrently; try again")
        return DuplicateRule(AlertRule.model_validate_json(item["document"]["S"]))

    def _put(self, item: dict[str, Any], condition: str = "attribute_not_exists(pk)") -> dict[str, Any]:
        return {"Put": {"TableName": self.table_name, "Item": item, "ConditionExpression": condition}}

    def _count(self, point_id: str, step: int) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"pk": {"S": f"count#{point_id}"}},
            "UpdateExpression": "SET n = if_not_exists(n, :zero) + :step, kind = :count",
            "ExpressionAttributeValues": {":zero": {"N": "0"}, ":step": {"N": str(step)}, ":count": {"S": "count"}},
        }
        if step > 0:
            update["ConditionExpression"] = "attribute_not_exists(n) OR n < :limit"
            update["ExpressionAttributeValues"][":limit"] = {"N": str(MAX_RULES_PER_POINT)}
        return {"Update": update}

    def create_rule(self, payload: RulePayload) -> RuleWriteResult:
        context = self.context()
        check_condition(payload.point_id, payload.condition, context)
        dedupe = context.key(payload.point_id, payload.condition)
        for _ in range(WRITE_ATTEMPTS):
            rule = new_rule(payload)
            key_item = {"pk": {"S": f"rulekey#{dedupe}"}, "kind": {"S": "rulekey"}, "rule_id": {"S": rule.rule_id}}
            reasons = self._transact(
                [self._put(_item(rule, dedupe)), self._put(key_item), self._count(rule.point_id, 1)]
            )
            if reasons is None:
                return self._written(RuleWriteResult("create_rule", None, rule))
            if reasons[1] == FAILED:
                raise self._owner(dedupe)
            if reasons[2] == FAILED:
                raise too_many(rule.point_id)
        raise StorageConflict("the rule could not be created; try again")

    def _change(self, rule_id: str, update: RuleUpdate | None) -> RuleWriteResult:
        check_rule_id(rule_id)
        context = self.context() if update is not None and update.condition is not None else None
        for attempt in range(WRITE_ATTEMPTS):
            item = self._get(f"rule#{rule_id}")
            if item is None:
                raise NotFound(f"no rule {rule_id!r}")
            before, dedupe = AlertRule.model_validate_json(item["document"]["S"]), item["dedupe"]["S"]
            guard = {"ConditionExpression": "#doc = :before", "ExpressionAttributeNames": {"#doc": "document"},
                     "ExpressionAttributeValues": {":before": {"S": item["document"]["S"]}}}  # fmt: skip
            owned = {"ConditionExpression": "rule_id = :id", "ExpressionAttributeValues": {":id": {"S": rule_id}}}
            old_key = {"TableName": self.table_name, "Key": {"pk": {"S": f"rulekey#{dedupe}"}}, **owned}
            rule_key = {"pk": {"S": f"rule#{rule_id}"}}
            if update is None:
                items = [{"Delete": {"TableName": self.table_name, "Key": rule_key, **guard}}, {"Delete": old_key},
                         self._count(before.point_id, -1)]  # fmt: skip
                after = None
            else:
                after = updated_rule(before, update)
                new_dedupe = dedupe
                if context is not None and update.condition is not None:
                    check_condition(before.point_id, update.condition, context.with_point(before.point_id))
                    new_dedupe = context.key(before.point_id, update.condition)
                items = [{"Put": {"TableName": self.table_name, "Item": _item(after, new_dedupe), **guard}}]
                if new_dedupe != dedupe:
                    items += [{"Delete": old_key}, self._put({"pk": {"S": f"rulekey#{new_dedupe}"},
                              "kind": {"S": "rulekey"}, "rule_id": {"S": rule_id}})]  # fmt: skip
            reasons = self._transact(items)
            if reasons is None:
                return self._written(RuleWriteResult("update_rule" if after else "delete_rule", before, after))
            if after is not None and len(reasons) > 2 and reasons[2] == FAILED:
                raise self._owner(new_dedupe)
            time.sleep(0.01 * 2**attempt)  # the rule changed under us: read it again
        raise StorageConflict(f"rule {rule_id} kept changing; try again")

    def update_rule(self, rule_id: str, update: RuleUpdate) -> RuleWriteResult:
        return self._change(rule_id, update)

    def delete_rule(self, rule_id: str) -> RuleWriteResult:
        return self._change(rule_id, None)

    # --- the rules file ----------------------------------------------------------------------

    def _written(self, result: RuleWriteResult) -> RuleWriteResult:
        """Rebuild the file after a committed write; a failure is logged, not raised (the table
        has the write, and the next write's rebuild carries it)."""
        try:
            self.rebuild_rules_file()
        except StorageConflict:
            log.exception("alert_rules.json not rebuilt after a committed write")
        return result

    def rebuild_rules_file(self) -> None:
        """Write a consistent scan of the table over the file, by a compare-and-swap."""
        swap_document(self.store, ALERT_RULES_KEY, lambda _: (rules_document(self.scan_rules()), None))
