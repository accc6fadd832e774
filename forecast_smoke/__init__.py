"""Smoke-test and observability tools: ``forecast-panel smoke zarr-query | s3-upload | s3-read | plot``.

Library modules do the work (``query``, ``transfer``, ``plot``, ``rollup``, ``metrics``); ``cli``
only parses options and calls them. Every JSON the tools write is a model of ``models`` and is
validated against the committed JSON Schemas in ``schemas/`` before it is written.
"""
