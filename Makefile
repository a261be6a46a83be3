# chatprep — `make prepare` runs the default job, `make prepare-preference` the preference (DPO) sample job,
# `make test` runs every test. Each sets up .venv first.
# `make setup` installs no Ray; `make setup-ray` adds the pinned Ray of requirements-ray.lock (execution.backend: ray).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
RAY_STAMP := $(VENV)/.installed-ray
CONFIG ?= configs/default.yaml

.PHONY: setup setup-ray prepare prepare-preference test test-fast lint bench bench-moderation clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "chatprep needs Python >= 3.11 (found " + sys.version.split()[0] + "); set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	$(PY) -m pipeline.setup_checks
	@touch $(STAMP)

# requirements-ray.lock = requirements.lock (same pins, as constraints) + Ray and its own dependencies
setup-ray: $(RAY_STAMP)

$(RAY_STAMP): $(STAMP) requirements-ray.lock
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-ray.lock
	$(PY) -c 'import ray; print("setup-ray: Ray", ray.__version__)'
	@touch $(RAY_STAMP)

prepare: setup
	$(PY) -m pipeline prepare --config $(CONFIG)

prepare-preference: setup
	$(PY) -m pipeline prepare --config configs/preference.yaml

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(PY) -m ruff check pipeline schemas tests data/sample

bench: setup-ray
	$(PY) -m bench
	$(PY) -m bench.bench_moderation

bench-moderation: setup
	$(PY) -m bench.bench_moderation

clean:
	rm -rf out .cache
