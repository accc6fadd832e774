#!/usr/bin/env bash
# Build the points API Lambda bundle into build/points-api/ (the template's CodeUri):
# the locked dependencies of the `lambda` extra (manylinux wheels for the Lambda runtime) plus the
# forecast_core and points_api packages. Run from anywhere, before `sam build` / `sam deploy`.
#   deploy/build-lambda.sh [x86_64|aarch64]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ARCH="${1:-x86_64}"   # must match Architectures in deploy/template.yaml
OUT="$ROOT/build/points-api"
UV="$(command -v uv || echo "$ROOT/.tools/uv/bin/uv")"
cd "$ROOT"
rm -rf "$OUT" && mkdir -p "$OUT"
# Exactly the lock: the base dependencies and the `lambda` extra, never dev/app/extraction.
"$UV" export --quiet --locked --no-dev --extra lambda --no-emit-project --format requirements-txt \
  -o "$ROOT/build/points-api.requirements.txt"
"$UV" pip install --quiet --target "$OUT" --python-version 3.12 \
  --python-platform "${ARCH}-manylinux_2_28" --only-binary :all: --no-deps \
  -r "$ROOT/build/points-api.requirements.txt"
cp -r forecast_core "$OUT/forecast_core"
cp -r lambda/points_api "$OUT/points_api"
find "$OUT" -name '__pycache__' -type d -prune -exec rm -rf {} +
# The bundle must stay light: these would mean a wrong extra leaked in.
for heavy in pyarrow dask panel xarray; do
  if [ -d "$OUT/$heavy" ]; then echo "build-lambda: $heavy must not be in the Lambda bundle" >&2; exit 1; fi
done
echo "build-lambda: $(du -sh "$OUT" | cut -f1) in $OUT"
