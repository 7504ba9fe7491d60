#!/usr/bin/env bash
# Wheels of what a GPU machine's image lacks for the GPU checks (lm-eval and its deps; torch,
# transformers, pyarrow and the like are there already), into .gpu-wheels/ (git-ignored; pass it
# as a carried path). Targets CPython 3.12 on x86-64 Linux, the H100/H200 image's Python.
set -euo pipefail
cd "$(dirname "$0")/.."
# The versions this repo's CPU venv runs together (installed there with --no-deps, so pinned).
PURE="lm-eval==0.4.13 datasets==5.2.0 evaluate==0.4.6 dill==0.4.1 multiprocess==0.70.19 more-itertools==11.2.1
      nltk==3.10.4 pytablewriter==1.2.1 dataproperty==1.1.1 mbstrdecoder==1.1.5 pathvalidate==3.3.1
      tabledata==1.3.5 tcolorpy==0.1.7 typepy==1.3.5 chardet==6.0.0.post1 defusedxml==0.7.1"
SDIST_ONLY="rouge-score==0.1.2 sqlitedict==2.1.0 word2number==1.1"   # no wheels on PyPI: built here (pure Python)
rm -rf .gpu-wheels && mkdir -p .gpu-wheels
pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform any -d .gpu-wheels $PURE
pip wheel -q --no-deps -w .gpu-wheels $SDIST_ONLY
du -sh .gpu-wheels
