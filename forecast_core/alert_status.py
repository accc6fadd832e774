"""What an alert evaluation records: each rule's state after a run, and each notification.

- ``dashboard/status/alerts_status.json`` (``AlertsStatus``): the latest evaluation — the run it
  evaluated and, per rule, its state, value and whether it fired or cleared in that run. It is
  also the state the next evaluation compares with (a rule is told once when it becomes true and
  once when it stops), replaced by a compare-and-swap.
- ``alerts/notifications/rule_id=<id>/run_id=<run>.json`` (``NotificationRecord``): one per
  notification, created before it is sent; see ``forecast_alerts.ledger`` for the protocol.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt

from forecast_core.alerts import AlertRule, RuleId
from forecast_core.base import ContractModel, Identifier, Message, RunId, UtcDatetime

RuleState = Literal["true", "false", "unknown"]
Transition = Literal["fired", "cleared"]
Delivery = Literal["sent", "unconfirmed", "failed", "already_sent"]


class RuleEvaluation(ContractModel):
    """One rule after one run. ``value`` is the probability in percent (``probability`` rules) or
    the statistic in the rule's unit (``statistic`` rules). A run without data for the rule
    (``has_data`` false: the point is pending, the window past the forecast …) keeps the state
    the rule had, so data coming back does not tell the same news twice; ``unknown`` until the
    rule (at its current revision) has been evaluated with data once."""

    rule_id: RuleId
    point_id: Identifier
    revision: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
    state: RuleState
    has_data: bool = True
    since_run_id: RunId | None = None  # the run that made the state true or false
    value: float | None = None
    detail: Message = ""
    sources: list[Identifier] = []
    transition: Transition | None = None  # what this run changed
    delivery: Delivery | None = None  # how the transition's notification went


class AlertsStatus(ContractModel):
    """``dashboard/status/alerts_status.json``: the latest evaluation (its rules sorted by id)."""

    run_id: RunId
    evaluated_utc: UtcDatetime
    rules: list[RuleEvaluation]
    seconds: NonNegativeFloat = 0.0
    fired: NonNegativeInt = 0
    cleared: NonNegativeInt = 0

    def by_rule(self) -> dict[str, RuleEvaluation]:
        return {item.rule_id: item for item in self.rules}


class NotificationRecord(ContractModel):
    """A notification about one rule and run: created ``claimed`` before sending, then ``sent``
    (with the channels' message ids) or ``failed`` (nothing was delivered: a later evaluation of
    the same run may try again). A record left ``claimed`` means the sender stopped between the
    claim and the record of the outcome: it may or may not have been delivered, and is never
    sent again (at most one notification per rule and run)."""

    rule_id: RuleId
    run_id: RunId
    transition: Transition
    status: Literal["claimed", "sent", "failed"]
    claimed_utc: UtcDatetime
    finished_utc: UtcDatetime | None = None
    attempt: Annotated[int, Field(ge=1)] = 1
    subject: Annotated[str, Field(max_length=100)]
    text: Message
    value: float | None = None
    sources: list[Identifier] = []
    rule: AlertRule
    point_name: Annotated[str, Field(max_length=200)] = ""
    message_ids: list[Annotated[str, Field(max_length=200)]] = []
    error: Message | None = None


class PendingEvaluations(ContractModel):
    """``alerts/pending.json``: runs whose evaluation began delivering (newest last, at most
    ``MAX_PENDING``). A run here newer than ``alerts_status.json``'s run stopped before its
    status was written; the next evaluation reads its notification records."""

    runs: Annotated[list[RunId], Field(max_length=50)] = []
