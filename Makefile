# Two commands on a fresh machine: `make demo` (whole pipeline on the embedded
# demo) and `make test` (the test suite). Each creates .venv by itself.
PYTHON ?= python3
VENV := .venv
# rules call `python -m cpt...`: the venv's python must come first on PATH
export PATH := $(abspath $(VENV)/bin):$(PATH)

.PHONY: env demo test test-fast lint clean frontier-profile frontier-pack

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

# Snakemake's own checks, as the workflow catalog runs them (make test runs the same test)
lint: env
	pytest -q tests/test_lint.py

# Frontier setup, once: `snakemake --profile frontier` finds a bare name in ~/.config/snakemake
# (not in ./profiles), so link it there; the profile stays in the repo and follows git pull.
SNAKEMAKE_PROFILES = $${XDG_CONFIG_HOME:-$$HOME/.config}/snakemake
frontier-profile:
	mkdir -p $(SNAKEMAKE_PROFILES)
	ln -sfn $(abspath profiles/frontier) $(SNAKEMAKE_PROFILES)/frontier
	@echo "linked $(SNAKEMAKE_PROFILES)/frontier -> $(abspath profiles/frontier)"

# Frontier, after `snakemake --profile frontier --conda-create-envs-only`: pack the training env
# (envs/train.yaml) to where config.yaml slurm.launch.stage_env.pack says; each training segment
# sbcasts it to the nodes' NVMe. Needs conda-pack in the base env (conda install -c conda-forge
# conda-pack); the editable install of this repo stays a path to the checkout (on Orion).
frontier-pack:
	pack=$$(python -c 'import os, yaml; print(os.path.expandvars(yaml.safe_load(open("config.yaml"))["slurm"]["launch"]["stage_env"]["pack"]))'); \
	case "$$pack" in *'$$'*) echo "slurm.launch.stage_env.pack = $$pack names an unset variable: source profiles/frontier/env.sh first"; exit 1;; esac; \
	env=$$(snakemake --profile frontier --list-conda-envs 2>/dev/null | awk '$$1 ~ /envs\/train\.yaml$$/ {print $$NF}'); \
	test -n "$$env" || { echo "no conda env for envs/train.yaml: run snakemake --profile frontier --conda-create-envs-only"; exit 1; }; \
	mkdir -p $$(dirname $$pack) && conda pack -p $$env --ignore-editable-packages --n-threads -1 -o $$pack.tmp.tar.gz && mv $$pack.tmp.tar.gz $$pack

clean:
	rm -rf results/demo demo .snakemake
