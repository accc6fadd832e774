"""View helpers without a browser: URL state, CSV, map preview and messages, overlay data."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import pytest
from bokeh.document import Document
from pydantic import ValidationError

from forecast_core.points import PointPayload
from forecast_core.points_client import PointsApiError
from forecast_panel.app import apply_query, load_extensions, query_of
from forecast_panel.data import DataStore
from forecast_panel.state import OverviewState
from forecast_panel.views.map import NO_OVERLAY, MapView, validation_message
from forecast_panel.views.meteogram import _same_data
from forecast_panel.views.overview import OverviewView

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_url_query_round_trip_and_bad_values_ignored(app_store: Path) -> None:
    datastore = DataStore(str(app_store))
    state = OverviewState(datastore, point_id="bear-lake-trailhead", show_members=True)
    state.param.update(sources=["ecmwf_ifs_ens"], variable="wind_speed_10m", units="kt")
    query = query_of(state)
    assert query["sources"] == "ecmwf_ifs_ens" and query["units"] == "kt" and query["members"] == "1"
    other = OverviewState(datastore)
    apply_query(other, {**query, "init": "1999-01-01", "threshold": "not-a-number"})
    assert (other.sources, other.variable, other.point_id, other.units) == (
        ["ecmwf_ifs_ens"],
        "wind_speed_10m",
        "bear-lake-trailhead",
        "kt",
    )
    assert other.init == "latest" and other.show_members


def test_choices_reach_the_server_without_panels_debounce(app_store: Path) -> None:
    load_extensions()
    view = OverviewView(OverviewState(DataStore(str(app_store))))
    widgets = view.controls().select(pn.widgets.Widget)
    choices = [item for item in widgets if isinstance(item, (pn.widgets.Select, pn.widgets.CheckBoxGroup))]
    choices += [item for item in widgets if isinstance(item, (pn.widgets.RadioButtonGroup, pn.widgets.Checkbox))]
    names = {item.name for item in choices}
    assert {"Sources", "Variable", "Point", "Init date", "View", "Units", "Member traces"} <= names
    assert all(item._debounce == 0 for item in choices)
    assert view.threshold_widget._debounce > 0  # typing is still coalesced


def test_a_redraw_sends_data_title_header_text_and_the_busy_end_nothing_more(app_store: Path) -> None:
    load_extensions()
    state = OverviewState(DataStore(str(app_store)))
    view = OverviewView(state)
    document = Document()
    root = view.panel().get_root(document)
    document.add_root(root)
    changed: list[tuple[Any, str]] = []
    document.on_change(lambda event: changed.append((event.model, getattr(event, "attr", "data"))))
    state.point_id = next(item.point_id for item in state.points if item.point_id != state.point_id)
    header = view.header._models[root.ref["id"]][0]
    assert [attr for model, attr in changed if model is header] == ["text"]
    assert view.meteogram.main.tags == [view.revision] and (view.meteogram.main, "tags") in changed
    assert (view.meteogram.main.title, "text") in changed
    sources = view.meteogram.sources
    assert {attr for model, attr in changed if model in sources.values()} == {"data"}
    assert (sources["boxes"], "data") in changed
    assert (sources["members"], "data") not in changed, "member traces are off: still empty, not sent again"
    assert (sources["previous"], "data") not in changed


def test_unchanged_plot_data_are_recognised() -> None:
    times = np.array(["2026-11-26T00", "2026-11-26T06"], dtype="datetime64[ns]")
    data = {"xc": times, "q50": np.array([1.0, np.nan], dtype="float32"), "source": np.array(["a", "b"], dtype=object)}
    assert _same_data(data, {name: values.copy() for name, values in data.items()})  # NaN equals NaN
    assert not _same_data(data, {**data, "q50": np.array([1.0, 2.0], dtype="float32")})
    assert not _same_data(data, {**data, "q50": np.array([1.0, np.nan], dtype="float64")})
    assert not _same_data(data, {**data, "source": np.array(["a", "c"], dtype=object)})
    assert not _same_data(data, {"xc": times})


def test_csv_download_is_what_is_shown(app_store: Path) -> None:
    state = OverviewState(DataStore(str(app_store)), point_id="aspen-cabin", units="degF")
    view = OverviewView(state)
    frame = pd.read_csv(io.StringIO(view._csv().getvalue()))
    assert set(frame["units"]) == {"degF"}
    assert set(frame["source_id"]) == set(state.sources)
    assert len(frame) == len(view.current.table)


def test_map_preview_overlay_and_messages(app_store: Path) -> None:
    load_extensions()  # GeoViews elements take Bokeh options
    datastore = DataStore(str(app_store))
    state = OverviewState(datastore)
    view = MapView(datastore, state, None, tile_url="none")
    lines = view.preview_cells(-105.3, 39.99)
    assert len(lines) == 2 and all("km away" in line for line in lines)
    view.click(-105.3, 39.99)
    assert view.form.visible and view.clicked == (-105.3, 39.99)
    assert view.save() is None, "without a write-back API nothing is saved"
    view.reset()
    assert view.clicked is None and not view.form.visible and view.name_input.value == ""
    view.overlay.ensure_options()
    assert view.overlay.overlay_variable == "temperature_2m", "without tiles the overlay is on"
    assert "temperature_2m" not in view.overlay.param.overlay_variable.names, "display names, not ids"
    lead = view.overlay.overlay_lead
    label = next(name for name, value in view.overlay.param.overlay_lead.names.items() if value == lead)
    assert label.endswith(f"(+{lead:g} h)") and ("MST" in label or "MDT" in label), "local valid time of Colorado"
    layer = view.overlay.layer("temperature_2m", lead)
    assert len(layer.data) > 0 and layer.data["median"].notna().any()
    title = layer.vdims[0].label
    assert layer.opts.get().kwargs["colorbar"] and "Temperature (2 m)" in title and "°C" in title
    assert len(view.overlay.layer(NO_OVERLAY, None).data) == 0
    with pytest.raises(ValidationError) as caught:
        PointPayload.model_validate(
            {"point_name": " ", "latitude": 95.0, "longitude": 0.0, "created_by": "dashboard", "tags": []}
        )
    message = validation_message(caught.value)
    assert "point_name" in message and "latitude" in message
    duplicate = PointsApiError(409, "a point with this name exists", conflict={"point_name": "Aspen Cabin"})
    assert validation_message(duplicate).startswith("Duplicate") and "Aspen Cabin" in validation_message(duplicate)
    assert "cannot be reached" in validation_message(PointsApiError(0, "refused"))
