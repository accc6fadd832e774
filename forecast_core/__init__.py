"""Contracts shared by the pipeline, the app, the write-back API, the alerts and the notebooks.

Everything here is defined once and imported by the packages above it (`extraction`,
`forecast_panel`, `points_api`, `forecast_smoke`, `forecast_alerts`, `forecast_cli`): the store
layout (`layout`), the JSON models (`base`, `status`, `registry`, `points`, `alerts`,
`alert_status`) and their committed JSON Schemas (`json_schemas`), the Parquet schemas
(`parquet_schemas`, needs pyarrow), the reader half of the publish protocol (`published`), store
access by URL (`store`, `store_options`) and the compare-and-swap of one key (`s3_objects`,
`swap`), regular grids and the nearest-cell rule (`grid`),
display units (`units`), the consensus of ensembles (`consensus`), transient errors
(`transient`), metric names (`observability`), the API client (`points_client`), packaged config
(`defaults`, `init_store`).

This package must never import Dask, xarray, Panel or any package above it (a test checks): the
Lambda bundle and the app depend on it.
"""
