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
from forecast_panel.app import load_extensions
from forecast_panel.data import DataStore
from forecast_panel.selection import LATEST
from forecast_panel.state import OverviewState
from forecast_panel.views.map import NO_OVERLAY, MapView, validation_message
from forecast_panel.views.meteogram import Meteogram, same_data
from forecast_panel.views.overview import OverviewView

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_selection_values_from_a_link_apply_each_on_its_own(app_store: Path) -> None:
    datastore = DataStore(str(app_store))
    state = OverviewState(datastore)
    selection = state.selection
    assert set(selection.url_parameters()) >= {"point", "sources", "panels", "units", "boxes", "times"}
    skipped = selection.apply_values(
        {
            "point": "bear-lake-trailhead",
            "sources": ["ecmwf_ifs_ens"],
            "panels": ["wind", "nonsense"],
            "units": "imperial",
            "wind_unit": "kt",
            "init": "1999-01-01",
            "unknown": 1,
        }
    )
    assert set(skipped) == {"panels", "init", "unknown"}, "invalid values are skipped, the rest applied"
    assert (selection.point, selection.sources, selection.units) == (
        "bear-lake-trailhead",
        ["ecmwf_ifs_ens"],
        "imperial",
    )
    assert selection.wind_unit == "kt" and selection.temperature_unit == "degF", "the link's own unit wins"
    assert selection.init == LATEST and selection.panels == ["temperature", "precipitation", "wind"]


def test_choices_reach_the_server_without_panels_debounce(app_store: Path) -> None:
    load_extensions()
    view = OverviewView(OverviewState(DataStore(str(app_store))))
    widgets = view.controls().select(pn.widgets.Widget)
    choices = [item for item in widgets if not isinstance(item, pn.widgets.FileDownload)]
    names = {item.name for item in choices}
    assert {"Sources", "Panels", "Point", "Init date", "Boxes", "Units", "Temperature", "Options"} <= names
    assert all(item._debounce == 0 for item in choices)


def test_a_redraw_sends_data_header_text_and_the_busy_end_nothing_more(app_store: Path) -> None:
    load_extensions()
    state = OverviewState(DataStore(str(app_store)))
    view = OverviewView(state)
    document = Document()
    root = pn.Column(view).get_root(document)
    document.add_root(root)
    changed: list[tuple[Any, str]] = []
    document.on_change(lambda event: changed.append((event.model, getattr(event, "attr", "data"))))
    state.selection.point = next(item.point_id for item in state.points if item.point_id != state.selection.point)
    header = view.header._models[root.ref["id"]][0]
    assert [attr for model, attr in changed if model is header] == ["text"]
    assert view.meteogram.layout.tags == [view.revision] and changed[-1] == (view.meteogram.layout, "tags")
    kinds = {attr for model, attr in changed if model is not header}
    assert kinds <= {"data", "text", "tags"}, kinds
    panel = view.meteogram.panels["temperature"]
    assert (panel.days.source, "data") in changed
    assert (panel.members, "data") not in changed, "member traces are off: still empty, not sent again"


def test_a_redraw_is_one_held_batch_of_document_changes(app_store: Path) -> None:
    from panel.io.state import set_curdoc

    load_extensions()
    state = OverviewState(DataStore(str(app_store)))
    view = OverviewView(state)
    document = Document()
    document.add_root(pn.Column(view).get_root(document))
    held: list[str | None] = []
    update = view.meteogram.update

    def recording(*args: Any, **kwargs: Any) -> None:
        held.append(document.callbacks.hold_value)
        update(*args, **kwargs)

    view.meteogram.update = recording  # type: ignore[method-assign]
    changed: list[Any] = []
    document.on_change(changed.append)
    with set_curdoc(document):
        state.selection.point = next(item.point_id for item in state.points if item.point_id != state.selection.point)
    assert held == ["combine"], "the header, data, summary and revision go out together"
    assert document.callbacks.hold_value is None and changed, "released, its changes dispatched"


def test_the_ranges_the_browser_computes_are_not_synced_back() -> None:
    from bokeh.models import DataRange1d

    meteogram = Meteogram()
    ranges = [model for model in meteogram.layout.references() if isinstance(model, DataRange1d)]
    assert meteogram.x_range in ranges and len(ranges) == 1 + len(meteogram.panels)
    assert not any(item.syncable for item in ranges), "a redraw's autorange sends nothing to the server"


def test_unchanged_plot_data_are_recognised() -> None:
    times = np.array(["2026-11-26T00", "2026-11-26T06"], dtype="datetime64[ns]")
    data = {"xc": times, "q50": np.array([1.0, np.nan], dtype="float32"), "source": np.array(["a", "b"], dtype=object)}
    assert same_data(data, {name: values.copy() for name, values in data.items()})  # NaN equals NaN
    assert not same_data(data, {**data, "q50": np.array([1.0, 2.0], dtype="float32")})
    assert not same_data(data, {**data, "q50": np.array([1.0, np.nan], dtype="float64")})
    assert not same_data(data, {**data, "source": np.array(["a", "c"], dtype=object)})
    assert not same_data(data, {"xc": times})


def test_csv_download_is_what_is_shown(app_store: Path) -> None:
    state = OverviewState(DataStore(str(app_store)))
    state.selection.apply_values({"point": "aspen-cabin", "temperature_unit": "degF"})
    view = OverviewView(state)
    frame = pd.read_csv(io.StringIO(view._csv().getvalue()))
    assert set(frame["units"]) == {"degF", "mm", "km/h"}
    assert set(frame["source_id"]) == set(state.selection.sources)
    assert set(frame["variable_id"]) == {"temperature_2m", "precipitation", "wind_speed_10m"}
    assert len(frame) == len(view.current.table)


def test_status_tables_and_a_single_inventory_reads_as_one_point(app_store: Path) -> None:
    from forecast_core.status import InventoryHistoryRow
    from forecast_panel.views.status import source_table, storage_trend

    datastore = DataStore(str(app_store))
    table = source_table(datastore)
    assert "gefs" in table and "ecmwf_ifs_ens" in table and ("partial" in table or "complete" in table)
    history = datastore.inventory_history()
    assert history
    plot = storage_trend(history[:1])
    width = plot.x_range.end - plot.x_range.start
    assert width >= np.timedelta64(2, "D"), "one point spans days on the date axis, not milliseconds"
    assert plot.xaxis[0].axis_label.startswith("inventory time") and isinstance(history[0], InventoryHistoryRow)


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


def test_meteogram_building_block_for_notebooks(app_store: Path) -> None:
    from forecast_panel.views.overview import meteogram

    view = meteogram(str(app_store), "aspen-cabin", units="imperial", panels=["wind"])
    assert view.state.point_name() == "Aspen Cabin" and [panel.panel_id for panel in view.current.panels] == ["wind"]
    assert view.current.panels[0].unit == "mph" and view.meteogram.layout is not None
    assert all(label.endswith(" mph") for label in view.selection.param.wind_threshold.names), "labels in mph"
    with pytest.raises(ValueError, match="point='nowhere'"):
        meteogram(str(app_store), "nowhere")
