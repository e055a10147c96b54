# neuronetz-gateway container: the same CLI as the pyz, as non-root uid 10001.
# Build:  docker compose up -d --build   (or: docker build -t neuronetz-gateway .)

# --- build stage: hash-checked dependencies into a virtualenv ---------------------------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY packaging/requirements.lock packaging/requirements.lock
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes -r packaging/requirements.lock
# The project itself is plain Python: copied in beside its locked dependencies (no build backend
# to fetch unpinned), with the same `neuronetz-gateway` command the venv and the pyz have.
COPY neuronetz_gateway /opt/venv/lib/python3.11/site-packages/neuronetz_gateway
COPY piccolo_migrations /opt/venv/lib/python3.11/site-packages/piccolo_migrations
RUN printf '#!/bin/sh\nexec /opt/venv/bin/python -m neuronetz_gateway "$@"\n' > /opt/venv/bin/neuronetz-gateway \
    && chmod 755 /opt/venv/bin/neuronetz-gateway \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib/python3.11/site-packages/neuronetz_gateway

# --- runtime stage: only the virtualenv and the entrypoint ------------------------------------
FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid gateway --home-dir /app --shell /usr/sbin/nologin gateway \
    && mkdir -p /app /var/lib/neuronetz-gateway \
    && chown gateway:gateway /app /var/lib/neuronetz-gateway && chmod 700 /var/lib/neuronetz-gateway
COPY --from=build /opt/venv /opt/venv
COPY docker/entrypoint.sh /usr/local/bin/neuronetz-entrypoint
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    GATEWAY_BIND_HOST=0.0.0.0 \
    GATEWAY_STATE_DIR=/var/lib/neuronetz-gateway \
    GATEWAY_LOG_FORMAT=json
WORKDIR /app
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["neuronetz-entrypoint"]
CMD ["serve"]
