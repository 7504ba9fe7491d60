# Two commands on a fresh machine: `make demo` (whole pipeline on the embedded
# demo) and `make test` (the test suite). Each creates .venv by itself.
PYTHON ?= python3
VENV := .venv
# rules call `python -m cpt...`: the venv's python must come first on PATH
export PATH := $(abspath $(VENV)/bin):$(PATH)

.PHONY: env demo test test-fast clean frontier-profile

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
	snakemake --profile profiles/local --configfile configs/demo.yaml --report results/demo/report.html
	@echo "demo report: results/demo/report/results.md, plots in results/demo/report/, HTML: results/demo/report.html"

test: env
	pytest

test-fast: env
	pytest -m "not slow"

# Frontier setup, once: `snakemake --profile frontier` finds a bare name in ~/.config/snakemake
# (not in ./profiles), so link it there; the profile stays in the repo and follows git pull.
SNAKEMAKE_PROFILES = $${XDG_CONFIG_HOME:-$$HOME/.config}/snakemake
frontier-profile:
	mkdir -p $(SNAKEMAKE_PROFILES)
	ln -sfn $(abspath profiles/frontier) $(SNAKEMAKE_PROFILES)/frontier
	@echo "linked $(SNAKEMAKE_PROFILES)/frontier -> $(abspath profiles/frontier)"

clean:
	rm -rf results/demo demo .snakemake
