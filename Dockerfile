# Hanoi Exchange node: a multi-stage build; the runtime image holds the wheel and its
# dependencies only (no source tree, no compiler), and runs as an unprivileged user.
#
#   docker build -t hanoi-exchange:0.1.0 .          (or: podman build / buildah bud)
#   docker compose -f deploy/compose.yaml up -d    (node + PostgreSQL + Caddy for TLS)
#
# BASE is Debian 12 (its python3 is 3.11): everything else comes from Debian's and PyPI's
# packages. docs/operations.md says how this was built and checked on a machine without a
# container registry.
ARG BASE=docker.io/library/debian:bookworm-slim

# --- build: the wheel of this project and wheels of everything it needs ---------------------------
FROM ${BASE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev gcc g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python3 -m venv /opt/build \
 && /opt/build/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/build/bin/pip wheel --no-cache-dir --wheel-dir /wheels .

# --- runtime: the wheels installed into a venv, nothing else of the source ------------------------
FROM ${BASE} AS runtime
# postgresql-client: `hanoi backup` uses pg_dump when it is there (docs/operations.md).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv postgresql-client ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 hanoi \
 && useradd --system --uid 10001 --gid hanoi --home-dir /var/lib/hanoi --create-home --shell /usr/sbin/nologin hanoi
COPY --from=build /wheels /tmp/wheels
RUN python3 -m venv /opt/hanoi \
 && /opt/hanoi/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheels hanoi-exchange \
 && rm -rf /tmp/wheels
ENV PATH=/opt/hanoi/bin:$PATH \
    HANOI_HOME=/var/lib/hanoi/node \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /var/lib/hanoi
VOLUME ["/var/lib/hanoi"]
EXPOSE 8600
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8600/readyz', timeout=4)"]
ENTRYPOINT ["hanoi"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8600"]
