# syntax=docker/dockerfile:1
# The Panel dashboard: `forecast-panel serve` on port 5006 (health: GET /liveness).
# Build from the repository root:
#   docker build -f deploy/docker/app.Dockerfile -t forecast-panel-app:$(git rev-parse --short HEAD) .
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
# Dependencies first (cached while only the code changes): exactly the lock, only the `app` extra.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --extra app --no-install-project
COPY forecast_cli ./forecast_cli
COPY forecast_core ./forecast_core
COPY extraction ./extraction
COPY forecast_panel ./forecast_panel
COPY forecast_smoke ./forecast_smoke
COPY forecast_alerts ./forecast_alerts
COPY lambda ./lambda
RUN uv sync --locked --no-dev --extra app --no-editable

FROM python:3.12.12-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /tmp --no-create-home --shell /usr/sbin/nologin app
# jemalloc: with PYTHONMALLOC=malloc, closed sessions' memory goes back to the system
# (forecast_panel/memory.py: server_environment, JEMALLOC_CONF; a test checks they agree).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libjemalloc2 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
COPY deploy/docker/entrypoint.sh /usr/local/bin/entrypoint.sh
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONMALLOC=malloc \
    LD_PRELOAD=libjemalloc.so.2 \
    MALLOC_CONF=background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0 \
    HOME=/tmp
WORKDIR /tmp
USER 10001:10001
EXPOSE 5006
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5006/liveness', timeout=4)"]
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
CMD ["forecast-panel", "serve", "--store", "/tmp/store", "--port", "5006", "--address", "0.0.0.0"]
