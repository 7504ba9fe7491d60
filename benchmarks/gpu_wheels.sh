#!/usr/bin/env bash
# Wheels of what a GPU machine's image lacks for the GPU checks (lm-eval and its deps; torch,
# transformers, pyarrow and the like are there already), into .gpu-wheels/ (git-ignored; pass it
# as a carried path). Targets CPython 3.12 on x86-64 Linux, the H100/H200 image's Python.
set -euo pipefail
cd "$(dirname "$0")/.."
PURE="lm-eval==0.4.13 datasets evaluate dill multiprocess more-itertools nltk pytablewriter dataproperty
      mbstrdecoder pathvalidate tabledata tcolorpy typepy chardet defusedxml jsonlines numexpr zstandard"
SDIST_ONLY="rouge-score sqlitedict word2number"   # no wheels on PyPI: built here (pure Python)
mkdir -p .gpu-wheels
pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform any -d .gpu-wheels $PURE
pip wheel -q --no-deps -w .gpu-wheels $SDIST_ONLY
du -sh .gpu-wheels
