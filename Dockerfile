# syntax=docker/dockerfile:1
# Sluice server image: `docker build -t sluice .`
#
# Two stages: `build` installs the locked dependencies (requirements.lock, hash-checked,
# wheels only) and Sluice's two distributions (clients/: the SDK and the wire code; the
# server, compiling its C extension, server/sluice/core/_wire.c), into a
# virtualenv; the final stage copies that virtualenv onto a clean Python image, without the
# compiler or any package installer (pip, setuptools), and runs it as an unprivileged user.
# The generated protobuf code (clients/sluice/v1) is committed, so no protoc runs here.
#
# Run it with a config file mounted where the Helm chart mounts it:
#   docker run -v $PWD/config.yaml:/etc/sluice/config/config.yaml:ro -p 50051:50051 sluice
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/sluice
COPY requirements.lock /tmp/requirements.lock
# The dependency set is exactly the lock file's: --no-deps means pip resolves nothing itself.
RUN /opt/sluice/bin/pip install --require-hashes --no-deps --only-binary=:all: -r /tmp/requirements.lock
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY server ./server
COPY clients ./clients
# Nothing installs packages at run time: the installers leave with the build.
RUN /opt/sluice/bin/pip install --no-deps --no-compile ./clients . \
 && /opt/sluice/bin/python -m pip uninstall --yes --quiet pip setuptools \
 && /opt/sluice/bin/python -m compileall -q /opt/sluice/lib

FROM ${PYTHON_IMAGE}
# The official base ships pip, setuptools and wheel in its own Python; nothing here uses them.
RUN ! python -m pip --version >/dev/null 2>&1 \
 || python -m pip uninstall --yes --quiet pip setuptools wheel
RUN groupadd --system --gid 10001 sluice \
 && useradd --system --uid 10001 --gid sluice --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin sluice \
 && install -d -o sluice -g sluice -m 0750 /var/lib/sluice /var/lib/sluice/spool
COPY --from=build /opt/sluice /opt/sluice
# Bytecode is compiled at build time; the root filesystem may be read-only at run time.
ENV PATH=/opt/sluice/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /var/lib/sluice
EXPOSE 50051 9464
# The ops listener's /healthz (ops.listen defaults to 127.0.0.1:9464). Kubernetes ignores
# this and uses the chart's gRPC probes.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["sluice"]
CMD ["serve", "--config", "/etc/sluice/config/config.yaml"]
