"""Contracts shared by the pipeline, the app and the write-back API.

Everything here is defined once and imported by `extraction`, `forecast_panel` and `points_api`:
the artifact store layout (`layout`), the JSON models and their JSON Schemas (`models`), the
Parquet schemas (`parquet_schemas`, needs pyarrow), the registries (`registry`), the point model
and name rules (`points`), display units (`units`) and store access by URL (`store`).

This package must never import Dask, xarray, Panel or the extraction code: the Lambda bundle and
the app depend on it.
"""
