# syntax=docker/dockerfile:1
# The extraction job: `forecast-panel extract` (scheduled) and `forecast-panel inventory`.
# Build from the repository root:
#   docker build -f deploy/docker/extraction.Dockerfile -t forecast-panel-extraction:$(git rev-parse --short HEAD) .
# The base is pinned to an exact patch tag; pin a digest too for byte-reproducible builds
# (python:3.12.12-slim-bookworm@sha256:…, see deploy/README.md "Images").

FROM python:3.12.12-slim-bookworm AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
# Dependencies first (cached while only the code changes): exactly the lock, only the `extraction` extra.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --extra extraction --no-install-project
COPY forecast_cli ./forecast_cli
COPY forecast_core ./forecast_core
COPY extraction ./extraction
COPY forecast_panel ./forecast_panel
COPY forecast_smoke ./forecast_smoke
COPY forecast_alerts ./forecast_alerts
COPY lambda ./lambda
RUN uv sync --locked --no-dev --extra extraction --no-editable

FROM python:3.12.12-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 extraction \
 && useradd --system --uid 10001 --gid extraction --home-dir /tmp --no-create-home --shell /usr/sbin/nologin extraction
COPY --from=build /opt/venv /opt/venv
COPY deploy/docker/entrypoint.sh /usr/local/bin/entrypoint.sh
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
WORKDIR /tmp
USER 10001:10001
# A batch job: success is its exit code, so there is no server to probe.
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
CMD ["forecast-panel", "extract", "--help"]
