# Sluice build and test entry points. GNU make; self-contained on a fresh Debian machine with
# Python 3.11 and Node 20 (the only network it needs is PyPI, Debian and npm).
#
#   make install       .venv with ./clients and sluice[dev] (editable) + the pinned Node tools
#                      in tools/ (stamped)
#   make lint          ruff check, ruff format --check, mypy --strict, import-linter
#   make proto         regenerate clients/sluice/v1 from protos/
#   make proto-check   buf lint + buf breaking against the committed baseline image
#   make proto-baseline  refresh the baseline image (deliberately, after a reviewed change)
#   make pytest        the test suite only (PYTEST_ARGS=... to narrow it)
#   make test          install + lint + proto-check + pytest: what .ci/run runs
#   make dev           sluice dev: local broker, server and simulated fleet (DEV_ARGS=...)
#   make native-transport  build/native_transport, the benchmark's grpc C++ baseline
#   make bench         the benchmark suite (~45 min; BENCH_ARGS=--only a_plain,c_plain ...);
#                      writes benchmarks/results/<date>.json and the table in benchmarks/README.md
#   make lock          requirements.lock (hash-pinned runtime dependencies, for the Dockerfile)
#   make image         the server image from the Dockerfile (IMAGE=sluice:dev; docker or podman)
#   make docs          regenerate the README's configuration reference
#   make vendor-docs   refresh the query API's vendored Swagger UI and ReDoc (pinned below)
#   make clean         caches and build output;  make distclean  also .venv and node_modules

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3
NPM ?= npm
VENV := .venv
VENV_BIN := $(VENV)/bin
TOOLS := tools
BUF := $(TOOLS)/node_modules/.bin/buf

# Debian packages the build or the tests need (gcc builds the C extension; the sanitizer
# runtimes check it; podman, runc and debootstrap build and run the image, which has no Docker
# engine here; chromium loads the query API's pages offline; nghttp2-client's h2load loads
# HTTP ingest in the benchmarks and their tests); installed with apt-get when missing and
# running as root. Checked with dpkg -s, so an already provisioned machine costs
# nothing. The benchmark's native transport needs its own (g++ and grpc's C++ library),
# installed only where it is built.
APT_PACKAGES := procps prometheus postgresql gcc libc6-dev libasan8 libubsan1 \
                podman runc debootstrap chromium nghttp2-client
NATIVE_APT_PACKAGES := g++ pkg-config libgrpc++-dev

PROTO_SRC := protos/sluice/v1/ingest.proto
PROTO_BASELINE := protos/baseline/sluice-v1.binpb

LINT_DIRS := $(wildcard server clients tests benchmarks) setup.py
TYPED_DIRS := $(wildcard server clients)

# The whole pytest run is bounded below the 45-minute CI budget even if a test hangs past
# its own pytest-timeout. SIGINT first, so fixtures still stop the processes they started.
# pytest collects tests/ (testpaths); PYTEST_ARGS narrows a run, e.g. PYTEST_ARGS=tests/unit.
# A module that fails to import is reported as an error, and the rest of the suite still runs.
PYTEST_WALL_TIMEOUT_S ?= 2700
PYTEST_ARGS ?=
DEV_ARGS ?=
BENCH_ARGS ?=

NATIVE_TRANSPORT := build/native_transport

VENV_STAMP := $(VENV)/.stamp-install
TOOLS_STAMP := $(TOOLS)/node_modules/.stamp-install

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install venv tools apt-deps kubectl-check lint proto proto-check proto-baseline pytest \
        test dev bench native-transport lock image \
        docs vendor-docs clean distclean

install: apt-deps venv tools kubectl-check

# `kubectl kustomize` builds deploy/k8s for the deploy tests. kubectl ships with this kind of
# machine (it is no Debian package here); say so plainly where it is missing.
kubectl-check:
	@command -v kubectl >/dev/null || { echo "kubectl is required (kubectl kustomize builds deploy/k8s)" >&2; exit 1; }

venv: $(VENV_STAMP)

tools: $(TOOLS_STAMP)

# $(call apt_install,PACKAGES): install the Debian packages of PACKAGES that are missing.
define apt_install
	@missing=""; \
	for pkg in $(1); do \
	  dpkg -s "$$pkg" >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "missing Debian packages:$$missing (run make as root, or install them)" >&2; \
	    exit 1; \
	  fi; \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi
endef

apt-deps:
	$(call apt_install,$(APT_PACKAGES))

$(VENV_BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Two distributions, both editable: sluice-client (clients/) and the server with its
# development extras. A new package (a new __init__.py) needs a reinstall: the editable
# install maps package names to folders when it is made. So does a change to the C
# extension, which the install compiles into server/sluice/core/.
$(VENV_STAMP): pyproject.toml setup.py clients/pyproject.toml \
               $(wildcard server/sluice/core/_wire*.[ch]) \
               $(wildcard server/sluice/*/__init__.py clients/*/__init__.py clients/sluice/*/__init__.py) \
               | $(VENV_BIN)/python
	$(VENV_BIN)/python -m pip install --quiet --upgrade pip
	$(VENV_BIN)/python -m pip install --quiet -e ./clients -e '.[dev]'
	touch $@

# `npm ci` installs exactly the committed lock and never rewrites it. The lock lists every
# platform's optional buf binary (npm records them even where the registry serves only the
# linux ones), so a newcomer's tree stays clean. Install scripts are not needed: buf's bin
# shim finds its platform package by itself.
$(TOOLS_STAMP): $(TOOLS)/package.json $(TOOLS)/package-lock.json
	@command -v node >/dev/null || { echo "node (20+) is required and not on PATH" >&2; exit 1; }
	cd $(TOOLS) && $(NPM) ci --no-audit --no-fund --ignore-scripts
	$(BUF) --version >/dev/null
	touch $@

lint: venv
	$(VENV_BIN)/ruff check $(LINT_DIRS)
	$(VENV_BIN)/ruff format --check $(LINT_DIRS)
	$(VENV_BIN)/mypy $(TYPED_DIRS)
	$(VENV_BIN)/lint-imports

proto: venv
	$(VENV_BIN)/python -m grpc_tools.protoc -Iprotos --python_out=clients --pyi_out=clients \
	  --grpc_python_out=clients $(PROTO_SRC)

proto-check: tools
	$(BUF) lint
	$(BUF) breaking --against $(PROTO_BASELINE)

proto-baseline: tools
	$(BUF) build protos -o $(PROTO_BASELINE)

# The Docker image installs exactly this set; a test fails when pyproject.toml or
# clients/pyproject.toml outgrows it. Both distributions are resolved together (the server
# takes sluice-client from ./clients), and neither is written into the lock.
lock: venv
	printf './clients[replay,connect]\n.\n' | $(VENV_BIN)/uv pip compile - --generate-hashes \
	  --python-version 3.11 --python-platform linux --quiet \
	  --no-emit-package sluice-client --no-emit-package sluice -o requirements.lock

# The committed Dockerfile, built as it is: with docker where its engine answers, else with
# podman. Where the registry's python base cannot be pulled, a Debian base made locally
# (debootstrap) stands in, kept in ~/.cache/sluice and the image store between runs.
IMAGE ?= sluice:dev
image: apt-deps
	IMAGE='$(IMAGE)' scripts/image.sh build

# The benchmark's native transport baseline (grpc's C++ callback API; see benchmarks/).
native-transport: $(NATIVE_TRANSPORT)

$(NATIVE_TRANSPORT): benchmarks/baselines/native_transport.cc
	$(call apt_install,$(NATIVE_APT_PACKAGES))
	mkdir -p $(@D)
	g++ -O2 -std=c++17 -Wall -Wextra -o $@ $< $$(pkg-config --cflags --libs grpc++)

pytest: install $(NATIVE_TRANSPORT)
	timeout --signal=INT --kill-after=60 $(PYTEST_WALL_TIMEOUT_S) $(VENV_BIN)/pytest \
	  --continue-on-collection-errors $(PYTEST_ARGS)

# Every check runs even when an earlier one fails, so one run shows every problem; the
# pytest summary stays last and the exit status is non-zero if anything failed.
test: install
	@failed=""; \
	for check in lint proto-check pytest; do \
	  $(MAKE) --no-print-directory $$check || failed="$$failed $$check"; \
	done; \
	if [ -n "$$failed" ]; then echo "make test: failed:$$failed" >&2; exit 1; fi

# Regenerates the README's configuration reference from the config models.
docs: venv
	$(VENV_BIN)/python scripts/update_readme_reference.py

# The query API serves /docs and /redoc from these copies, so they work offline. ReDoc stays
# on 2.x: 3.x's standalone bundle is an ES module, which FastAPI's get_redoc_html cannot load.
SWAGGER_UI_VERSION := 5.36.0
REDOC_VERSION := 2.5.4
DOCS_STATIC := server/sluice/downstream/query/static
SWAGGER_UI_FILES := LICENSE NOTICE package.json swagger-ui-bundle.js \
                    swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png
REDOC_FILES := LICENSE package.json bundles/redoc.standalone.js \
               bundles/redoc.standalone.js.LICENSE.txt

vendor-docs:
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	(cd "$$tmp" && $(NPM) pack --silent swagger-ui-dist@$(SWAGGER_UI_VERSION) \
	  redoc@$(REDOC_VERSION) >/dev/null); \
	for name in swagger-ui-dist-$(SWAGGER_UI_VERSION) redoc-$(REDOC_VERSION); do \
	  mkdir "$$tmp/$$name" && tar -xzf "$$tmp/$$name.tgz" -C "$$tmp/$$name"; \
	done; \
	rm -rf $(DOCS_STATIC)/swagger_ui $(DOCS_STATIC)/redoc; \
	mkdir -p $(DOCS_STATIC)/swagger_ui $(DOCS_STATIC)/redoc; \
	for file in $(SWAGGER_UI_FILES); do \
	  cp "$$tmp/swagger-ui-dist-$(SWAGGER_UI_VERSION)/package/$$file" $(DOCS_STATIC)/swagger_ui/; \
	done; \
	for file in $(REDOC_FILES); do \
	  cp "$$tmp/redoc-$(REDOC_VERSION)/package/$$file" $(DOCS_STATIC)/redoc/; \
	done
	@echo "vendored swagger-ui-dist $(SWAGGER_UI_VERSION) and redoc $(REDOC_VERSION)" \
	  "into $(DOCS_STATIC); update the versions in its README.md"

dev: install
	$(VENV_BIN)/sluice dev $(DEV_ARGS)

# Not part of `make test`: it takes the whole machine for ~45 minutes (3 rounds).
bench: install $(NATIVE_TRANSPORT)
	$(VENV_BIN)/python -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist
	find . -path ./$(VENV) -prune -o -path ./$(TOOLS)/node_modules -prune -o \
	  \( -name __pycache__ -o -name '*.egg-info' \) -type d -print0 | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV) $(TOOLS)/node_modules
