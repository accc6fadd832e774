#!/bin/sh
# Image entrypoint: runs `forecast-panel ARGS…`. A command given with or without the leading
# `forecast-panel` works (ECS task definitions and RunTask overrides may use either form).
# `exec` replaces this shell, so the CLI is PID 1 and receives ECS's SIGTERM itself
# (tests/app/test_shutdown.py signals it through this script).
set -eu
if [ "${1:-}" = "forecast-panel" ]; then shift; fi
exec "${FORECAST_PANEL_BIN:-/opt/venv/bin/forecast-panel}" "$@"
