# Two commands on a fresh machine: `make demo` (whole pipeline on the embedded
# demo) and `make test` (the test suite). Each creates .venv by itself.
PYTHON ?= python3
VENV := .venv
# rules call `python -m cpt...`: the venv's python must come first on PATH
export PATH := $(abspath $(VENV)/bin):$(PATH)

.PHONY: env demo test test-fast clean

env: $(VENV)/.installed

# torch first, pinned to the local CPU wheel: any other spec pulls GBs of CUDA packages
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	pip install -q --upgrade pip
	pip install -q torch==2.13.0
	pip install -q -e ".[test]"
	touch $@

demo: env
	python -m cpt.demo demo
	snakemake --profile profiles/local --configfile configs/demo.yaml
	@echo "demo results: results/demo/ (data manifest: results/demo/data/manifest.json)"

test: env
	pytest

test-fast: env
	pytest -m "not slow"

clean:
	rm -rf results/demo demo .snakemake
