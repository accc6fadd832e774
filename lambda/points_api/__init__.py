"""The write-back API for points (package ``points_api``; the Lambda handler is ``points_api.handler.lambda_handler``).

Two storage modes share one Powertools REST resolver and the validation in ``forecast_core.points``:

- **AWS** (``POINTS_TABLE_NAME`` set): DynamoDB is the source of truth; every write rebuilds
  ``dashboard/config/pre_canned_points.json`` in ``ARTIFACT_STORE_URL`` by S3 compare-and-swap.
- **Embedded** (no AWS): the points file in an artifact store *is* the source of truth, written
  under a lock (local folder) or by S3 compare-and-swap; served by ``forecast-panel api``.

This package never imports pyarrow, Dask, xarray, Panel or ``extraction`` (a test checks it).
"""
