"""Alerts of the shown point, under the meteogram: its rules with their state in the latest
evaluation (and which fired or cleared in the run in force), and a form to add one — prefilled
by tapping a cell of the probability strip. Writes go through the write-back API (``/rules``);
without it the list is read from the store and the form is hidden. Render only: what is shown
and proposed comes from ``forecast_panel.alert_rules``.
"""

from __future__ import annotations

from typing import Any

import panel as pn
from pydantic import ValidationError

from forecast_core import units
from forecast_core.alerts import AlertRule, RulePayload, RuleUpdate
from forecast_core.points_client import PointsApiError
from forecast_core.registry import CONSENSUS_ID
from forecast_panel.alert_rules import Draft, RuleRow, rule_rows
from forecast_panel.frames import escape
from forecast_panel.state import OverviewState
from forecast_panel.views.map import validation_message

CSS = """
table { border-collapse: collapse; width: 100%; font-size: 0.9em; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #ddd; vertical-align: top; }
.fp-badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 0.85em; font-weight: 600;
  white-space: nowrap; }
.fp-rule-fired .fp-badge { background: #b3261e; color: #fff; }
.fp-rule-cleared .fp-badge { background: #1b5e20; color: #fff; }
.fp-rule-fired td:first-child { border-left: 4px solid #b3261e; }
.fp-state-true { color: #b3261e; font-weight: 600; white-space: nowrap; }
.fp-muted { color: #555; font-size: 0.85em; }
.fp-error { color: #b00020; } .fp-saved { color: #1b5e20; }
"""
DANGER_CSS = ".bk-btn-danger { background-color: #b3261e; border-color: #b3261e; }"  # white on it: 6:1 contrast
REDUCTIONS = {"total over the window": "total", "highest": "max", "lowest": "min", "mean": "mean"}
COMPARISONS = {"above": ">", "at least": ">=", "below": "<", "at most": "<="}
STATES = {"true": "● true now", "false": "○ false", "unknown": "no data yet", "not evaluated": "not evaluated yet"}


def rules_service(service: Any) -> Any | None:
    """``service`` when it can list and write rules (the write-back API client), else None."""
    needed = ("list_rules", "create_rule", "update_rule", "delete_rule")
    return service if service is not None and all(callable(getattr(service, name, None)) for name in needed) else None


class AlertsView:
    """The alerts section of one session (``panel()`` is placed under the meteogram)."""

    def __init__(self, state: OverviewState, service: Any | None) -> None:
        self.state = state
        self.service = rules_service(service)
        self.rules: list[AlertRule] = []
        self.title = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[CSS], css_classes=["fp-alerts"])
        self.table = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[CSS], css_classes=["fp-alerts"])
        self.message = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[CSS], css_classes=["fp-alerts"])
        self.pick: pn.widgets.Select | None = None  # built by the first refresh, with its options
        self.toggle = pn.widgets.Button(label="Pause or resume", color="default")
        self.delete = pn.widgets.Button(label="Delete", color="danger", stylesheets=[DANGER_CSS])
        self.toggle.on_click(lambda _: self.pause_or_resume())
        self.delete.on_click(lambda _: self.remove())
        self._build_form()
        state.selection.param.watch(lambda _: self.refresh(), ["point"])
        self.refresh()

    # --- the form ---------------------------------------------------------------------------------

    def _build_form(self) -> None:
        # options are given at construction: a Select whose options are set later shows no value
        select = pn.widgets.Select
        variables = self.state.datastore.variables()
        choices = {variable.display_name: variable.variable_id for variable in variables.variables}
        first = variables.variables[0]
        self.variable = select(label="Variable", options=choices, value=first.variable_id)
        self.source = select(label="From", options=self._source_choices(), value=CONSENSUS_ID)
        self.reduce = select(label="Each member's", options=self._reductions(first.variable_id))
        self.comparison = select(label="is", options=COMPARISONS, value=">")
        self.threshold = pn.widgets.FloatInput(label="Threshold", value=10.0)
        self.unit = select(label="Unit", options=self._units_of(first.variable_id))
        self.start = pn.widgets.FloatInput(label="From hour after init", value=0.0, start=0.0, end=1000.0)
        self.end = pn.widgets.FloatInput(label="To hour after init", value=72.0, start=1.0, end=1000.0)
        self.chance = pn.widgets.FloatInput(label="When the chance is at least (%)", value=50.0, start=1.0, end=100.0)
        self.label = pn.widgets.TextInput(label="Name (optional)", max_length=80, sizing_mode="stretch_width")
        self.add = pn.widgets.Button(label="Add alert", color="primary")
        self.add.on_click(self._on_add)
        self.variable.param.watch(lambda _: self._units(), "value")
        fields = (self.variable, self.source, self.reduce, self.comparison, self.threshold, self.unit, self.start,
                  self.end, self.chance)  # fmt: skip
        for field in fields:
            field.param.update(width=230, sizing_mode="fixed")
        grid = pn.FlexBox(*fields, flex_wrap="wrap", sizing_mode="stretch_width")
        self.form = pn.Card(grid, self.label, self.add, title="New alert for this point", collapsed=True,
                            sizing_mode="stretch_width", css_classes=["fp-alert-form"])  # fmt: skip

    def _source_choices(self) -> dict[str, str]:
        registry = self.state.datastore.registry()
        manifest = self.state.manifest()
        listed = [info.source_id for info in manifest.sources] if manifest else []
        names = {entry.source_id: entry.display_name for entry in registry.sources} if registry else {}
        return {"Consensus of all sources": CONSENSUS_ID, **{names.get(sid, sid): sid for sid in listed}}

    def _units_of(self, variable_id: str) -> dict[str, str]:
        variable = self.state.datastore.variables().get(variable_id)
        return {units.label(unit) or unit: unit for unit in variable.display_units}

    def _reductions(self, variable_id: str) -> dict[str, str]:
        amounts = self.state.datastore.variables().get(variable_id).kind == "per_step"
        return REDUCTIONS if amounts else {label: value for label, value in REDUCTIONS.items() if value != "total"}

    def _units(self) -> None:
        """Unit and reduction choices of the chosen variable (the page's unit first)."""
        variable_id = str(self.variable.value)
        shown = self.state.display_unit_of(variable_id)
        self.unit.param.update(options=self._units_of(variable_id), value=shown)
        reductions = self._reductions(variable_id)
        value = self.reduce.value if self.reduce.value in reductions.values() else next(iter(reductions.values()))
        self.reduce.param.update(options=reductions, value=value)

    def prefill(self, draft: Draft) -> None:
        """Fill the form from a strip cell and open it."""
        base = self.state.datastore.variables().get(draft.variable_id).variable_id
        self.variable.value = base
        self._units()
        self.source.value = draft.source if draft.source in self.source.options.values() else CONSENSUS_ID
        self.reduce.value, self.comparison.value = draft.reduce, draft.comparison
        self.unit.value, self.threshold.value = draft.unit, draft.threshold
        self.start.value, self.end.value = draft.start_hours, draft.end_hours
        self.chance.value, self.label.value = draft.min_probability, draft.label
        self.form.collapsed = False
        self.message.object = (
            "<div class='fp-muted'>Prefilled from the probability strip: the chance for that day of each new run. "
            "Change anything, then Add alert.</div>"
        )

    def draft(self) -> Draft:
        return Draft(
            variable_id=str(self.variable.value), source=str(self.source.value), reduce=str(self.reduce.value),
            comparison=str(self.comparison.value), threshold=float(self.threshold.value or 0.0),
            unit=str(self.unit.value), start_hours=float(self.start.value or 0.0),
            end_hours=float(self.end.value or 0.0), min_probability=float(self.chance.value or 0.0),
            label=str(self.label.value or "").strip(),
        )  # fmt: skip

    # --- writes -----------------------------------------------------------------------------------

    def _on_add(self, _: Any) -> None:
        self.create()

    def create(self) -> AlertRule | None:
        point = self.state.selection.point
        if self.service is None or point is None:
            return None
        draft = self.draft()
        body = {"point_id": point, "created_by": "dashboard", "condition": draft.condition()}
        if draft.label:
            body["label"] = draft.label
        try:
            rule = self.service.create_rule(RulePayload.model_validate(body))
        except (ValidationError, PointsApiError) as error:
            self.message.object = f"<div class='fp-error'>{escape(validation_message(error))}</div>"
            return None
        self.form.collapsed = True
        self.refresh()
        self.message.object = (
            "<div class='fp-saved'>Alert added. It is evaluated after each new run; you are told when it becomes "
            "true and once when it stops.</div>"
        )
        return rule

    def _chosen(self) -> AlertRule | None:
        chosen = self.pick.value if self.pick is not None else None
        return next((rule for rule in self.rules if rule.rule_id == chosen), None)

    def pause_or_resume(self) -> None:
        rule = self._chosen()
        if self.service is None or rule is None:
            return
        self._write(lambda: self.service.update_rule(rule.rule_id, RuleUpdate(enabled=not rule.enabled,
                                                                              updated_by="dashboard")))  # fmt: skip

    def remove(self) -> None:
        rule = self._chosen()
        if self.service is not None and rule is not None:
            self._write(lambda: self.service.delete_rule(rule.rule_id))

    def _write(self, action: Any) -> None:
        try:
            action()
        except (ValidationError, PointsApiError) as error:
            self.message.object = f"<div class='fp-error'>{escape(validation_message(error))}</div>"
            return
        self.message.object = ""
        self.refresh()

    # --- the list ---------------------------------------------------------------------------------

    def _load(self, point: str) -> list[AlertRule]:
        if self.service is not None:
            try:
                loaded: list[AlertRule] = self.service.list_rules(point)
                return loaded
            except PointsApiError as error:
                self.message.object = f"<div class='fp-error'>{escape(validation_message(error))}</div>"
        document = self.state.datastore.alert_rules(fresh=True)
        return document.of_point(point) if document else []

    def refresh(self) -> None:
        """Read the point's rules and the latest evaluation again and render them."""
        point = self.state.selection.point
        self.rules = self._load(str(point)) if point else []
        datastore = self.state.datastore
        status = datastore.alerts_status()
        manifest = self.state.manifest()
        rows = rule_rows(self.rules, status, manifest.run_id if manifest else None, datastore.variables(),
                         datastore.registry())  # fmt: skip
        name = escape(self.state.point_name())
        evaluated = f"latest evaluation: run {escape(status.run_id)}" if status else "no evaluation yet"
        fired = sum(1 for row in rows if row.news == "fired")
        headline = f", <b>{fired} fired in the latest run</b>" if fired else ""
        self.title.object = f"<h2 style='font-size:1.1em;margin:8px 0 2px'>Alerts for {name}</h2>" + (
            f"<div class='fp-muted'>{len(rows)} rule(s){headline}; {evaluated}.</div>")  # fmt: skip
        self.table.object = _table(rows)
        options = {row.text[:60]: row.rule_id for row in rows}
        chosen = self.pick.value if self.pick is not None and self.pick.value in options.values() else None
        chosen = chosen or (rows[0].rule_id if rows else None)
        if self.pick is None:  # options at construction: a Select given them later shows no value
            self.pick = pn.widgets.Select(label="Rule to pause, resume or delete", options=options, value=chosen,
                                          sizing_mode="stretch_width")  # fmt: skip
        else:
            self.pick.param.update(options=options, value=chosen)

    def panel(self) -> pn.Column:
        parts: list[Any] = [self.title, self.table]
        if self.service is not None:
            buttons = pn.Row(self.toggle, self.delete, sizing_mode="stretch_width")
            parts += [pn.FlexBox(self.pick, buttons, flex_wrap="wrap", sizing_mode="stretch_width"), self.form]
        else:
            text = "<div class='fp-muted'>Alerts are added and changed through the write-back API (--api).</div>"
            parts.append(pn.pane.HTML(text, stylesheets=[CSS], css_classes=["fp-alerts"]))
        return pn.Column(*parts, self.message, sizing_mode="stretch_width", css_classes=["fp-alerts-section"])


def _table(rows: list[RuleRow]) -> str:
    if not rows:
        return "<div class='fp-muted'>No alert on this point. Tap a day in the probability strip to start one.</div>"
    body = "".join(
        f"<tr class='{' '.join(row.classes)}' data-rule='{escape(row.rule_id)}'>"
        f"<td>{escape(row.text)}{'' if row.enabled else ' <span class=fp-muted>(paused)</span>'}"
        f"<div class='fp-muted'>{escape(row.detail)}</div></td>"
        f"<td class='fp-state-{escape(row.state.split()[0])}'>{escape(STATES.get(row.state, row.state))}</td>"
        f"<td>{escape(row.value)}</td>"
        f"<td>{f'<span class=fp-badge>{escape(row.news)} in the latest run</span>' if row.news else ''}</td></tr>"
        for row in rows
    )
    return f"<table><tr><th>Rule</th><th>State</th><th>Value</th><th>Latest run</th></tr>{body}</table>"
