#!/bin/sh
# Image entrypoint: runs `forecast-panel ARGS…`. A command given with or without the leading
# `forecast-panel` works (ECS task definitions and RunTask overrides may use either form).
set -eu
if [ "${1:-}" = "forecast-panel" ]; then shift; fi
exec /opt/venv/bin/forecast-panel "$@"
