"""The alerts section without a browser: drafts from strip cells, the rules list with the latest
evaluation, and writes through the real local write-back API."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from forecast_core.alert_status import AlertsStatus
from forecast_core.alerts import AlertRule
from forecast_core.defaults import canonical_variables
from forecast_core.points_client import HttpPointsClient
from forecast_panel.alert_rules import draft_for_cell, draft_from_strip, rule_rows
from forecast_panel.daily import DailyValues, box_statistics
from forecast_panel.data import DataStore
from forecast_panel.frames import StripRow
from forecast_panel.selection import MeteogramSelection
from forecast_panel.state import OverviewState
from forecast_panel.views.alerts import AlertsView

WHEN = datetime(2026, 11, 24, tzinfo=UTC)


def strip_row(zone_days: list[str], variable_id: str = "snowfall", source_id: str = "consensus") -> StripRow:
    days = np.array(zone_days, dtype="datetime64[D]")
    values = np.zeros((days.size, 3))
    daily = DailyValues(days, days.astype("datetime64[ns]") + np.timedelta64(12, "h"), values, box_statistics(values))
    return StripRow("Snowfall > 5 mm|Consensus", daily, 5.0, None, variable_id, source_id, 5.0,
                    np.datetime64("2026-11-24T00:00", "ns"))  # fmt: skip


def test_a_strip_cell_becomes_the_chance_over_that_local_day() -> None:
    variables = canonical_variables()
    row = strip_row(["2026-11-24", "2026-11-25", "2026-11-26"])
    utc = draft_from_strip(row, 1, "UTC", "mm", variables, 67.0)
    assert utc is not None
    assert (utc.start_hours, utc.end_hours, utc.min_probability) == (24.0, 48.0, 60.0)
    assert (utc.variable_id, utc.source, utc.reduce, utc.comparison, utc.threshold) == ("snowfall", "consensus",
                                                                                        "total", ">", 5.0)  # fmt: skip
    denver = draft_from_strip(row, 0, "America/Denver", "mm", variables, None)
    assert denver is not None and (denver.start_hours, denver.end_hours) == (7.0, 31.0)  # MST is UTC−7
    wind = draft_from_strip(strip_row(["2026-11-24"], "wind_speed_10m", "gefs"), 0, "UTC", "km/h", variables, 5.0)
    assert wind is not None and (wind.reduce, wind.min_probability, wind.start_hours) == ("max", 50.0, 0.0)
    assert draft_from_strip(row, 7, "UTC", "mm", variables, None) is None


def test_rule_rows_say_what_fired_in_the_run_in_force() -> None:
    condition = {"kind": "probability", "variable_id": "snowfall", "window": {"end_hours": 72}, "reduce": "total",
                 "comparison": ">=", "threshold": 10.0, "unit": "mm", "min_probability": 50.0}  # fmt: skip
    rules = [
        AlertRule.model_validate({"rule_id": f"rule-00000000000{index}", "point_id": "p", "condition": condition
                                  | {"threshold": 10.0 + index}, "created_by": "t", "created_utc": WHEN,
                                  "updated_utc": WHEN, "label": label})
        for index, label in enumerate(["Powder", "Deep powder", None])
    ]  # fmt: skip
    status = AlertsStatus.model_validate({
        "run_id": "20261124T070000Z", "evaluated_utc": WHEN, "rules": [
            {"rule_id": rules[0].rule_id, "point_id": "p", "revision": rules[0].revision, "state": "true",
             "value": 64.0, "transition": "fired"},
            {"rule_id": rules[1].rule_id, "point_id": "p", "revision": "0" * 16, "state": "true"},
        ]})  # fmt: skip
    rows = rule_rows(rules, status, "20261124T070000Z", canonical_variables(), None)
    by_id = {row.rule_id: row for row in rows}
    assert (by_id[rules[0].rule_id].news, by_id[rules[0].rule_id].value) == ("fired", "64 %")
    assert by_id[rules[1].rule_id].state == "not evaluated"  # evaluated at another revision
    assert by_id[rules[2].rule_id].text.startswith("P(Snowfall (liquid equivalent) total 0–72 h >= 12 mm)")
    later = rule_rows(rules, status, "20261125T070000Z", canonical_variables(), None)
    assert all(row.news == "" for row in later)  # the news belonged to an older run


@pytest.fixture
def view(fresh_store: Path, api_server: str) -> AlertsView:
    state = OverviewState(DataStore(str(fresh_store)), MeteogramSelection())
    state.selection.sources = [*state.selection.sources, "consensus"]
    return AlertsView(state, HttpPointsClient(api_server))


def test_a_tapped_cell_is_added_paused_and_deleted(view: AlertsView, api_server: str) -> None:
    frames = view.state.frames()
    index = int(np.flatnonzero(frames.strip["y"] == max(frames.strip_axis.ticks))[2])  # the last row: consensus
    draft = draft_for_cell(frames, index, view.state.display_unit_of, view.state.datastore.variables())
    assert draft is not None and draft.source == "consensus"
    view.prefill(draft)
    assert (view.source.value, view.form.collapsed) == ("consensus", False)
    created = view.create()
    assert created is not None and created.condition.source == "consensus" and "Alert added" in view.message.object
    assert [rule.rule_id for rule in view.rules] == [created.rule_id]
    view.pause_or_resume()
    assert HttpPointsClient(api_server).list_rules(str(view.state.selection.point))[0].enabled is False
    assert "(paused)" in view.table.object
    view.remove()
    assert view.rules == [] and "No alert on this point" in view.table.object


def test_bad_input_is_explained_and_nothing_is_written(view: AlertsView, api_server: str) -> None:
    view.end.value = 2000.0  # past the 1000 h the model allows
    assert view.create() is None
    assert "end_hours" in view.message.object and "fp-error" in view.message.object
    assert HttpPointsClient(api_server).list_rules() == []


def test_without_the_api_the_list_is_read_only(fresh_store: Path) -> None:
    state = OverviewState(DataStore(str(fresh_store)), MeteogramSelection())
    view = AlertsView(state, None)
    panel = view.panel()
    assert view.service is None and "write-back API" in str(panel.objects[2].object)
    assert view.create() is None
