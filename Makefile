# Two commands do all set-up on a fresh machine (see README):
#   make reproduce   -> creates the environment if missing, then `snakemake --cores all reproduce_tables`
#   make test        -> creates the environment if missing, then runs the whole test suite
# The virtual environment lives outside the checkout, keyed by a hash of the files that define it,
# so clones (CI included) reuse it while pyproject.toml is unchanged.
SHELL := /bin/bash
PYTHON ?= python3
ENV_KEY := $(shell cat pyproject.toml | sha256sum | cut -c1-12)
ENV_DIR ?= $(if $(DSCODEC_ENV),$(DSCODEC_ENV),$(HOME)/.cache/dscodec/env-$(ENV_KEY))
BIN := $(ENV_DIR)/bin
STAMP := $(ENV_DIR)/.installed
CORES ?= all
SNAKEMAKE_ARGS ?= --show-failed-logs
# Debian packages that improve the sample corpus (more voices) and add offline baselines.
SYSTEM_PACKAGES := flite espeak-ng opus-tools codec2 chromium

export PATH := $(BIN):$(PATH)

.PHONY: env system-deps reproduce test bench mlflow-ui clean-results

env: system-deps $(STAMP)
	@# point the (shared) environment at this checkout; cheap when nothing changed
	@$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e . >/dev/null

# No prerequisite on purpose: ENV_DIR is keyed by the hash of pyproject.toml, so a changed
# pyproject.toml already means a new ENV_DIR; a fresh clone (new mtimes) must reuse the built one.
$(STAMP):
	@echo ">> creating environment $(ENV_DIR)"
	$(PYTHON) -m venv --clear $(ENV_DIR)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --progress-bar off -e ".[dev,slurm]"
	touch $@

# Best effort: needs root and apt; everything still works without them (fewer voices,
# classical baselines reported as "not run").
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo ">> installing system packages:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "!! could not install$$missing (continuing without them)"; \
	  else echo "!! optional system packages missing:$$missing (install them for more voices and offline baselines)"; fi; \
	fi

reproduce: env
	$(BIN)/snakemake --cores $(CORES) reproduce_tables $(SNAKEMAKE_ARGS)

test: env
	$(BIN)/python -m pytest -q

bench: env
	$(BIN)/python benchmarks/bench_codec.py
	$(BIN)/python benchmarks/bench_train.py

mlflow-ui: env
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/results/mlflow/mlflow.db --port 5000

clean-results:
	rm -rf results results-ci
