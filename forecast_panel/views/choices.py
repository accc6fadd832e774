"""Choice widgets whose changes reach the server at once.

Panel holds every browser → server change for 50 ms (``Syncable._debounce``) so that a slider
drag or a burst of keystrokes arrives as one event. A choice (a select, a checkbox, a button
group) is one event, so for these the hold is only latency: about a quarter of a point
switch's round trip on the demo store. Text and number inputs keep Panel's default.
"""

from __future__ import annotations

import panel as pn


class Select(pn.widgets.Select):
    _debounce = 0


class CheckBoxGroup(pn.widgets.CheckBoxGroup):
    _debounce = 0


class RadioButtonGroup(pn.widgets.RadioButtonGroup):
    _debounce = 0


class Checkbox(pn.widgets.Checkbox):
    _debounce = 0
