#!/usr/bin/env bash
# Every GPU check in one go, for a machine with a GPU (minutes of device time): versions, the
# GPU tests (pytest -m gpu) and the throughput benchmark, each result written under $OUT.
#
#   OUT=results/gpu-checks bash benchmarks/gpu_checks.sh [all|tests|bench]   # from the repo root
#
# `all` fits one 10-minute device call (tests <= 300 s, benchmark <= 270 s; TESTS_TIMEOUT and
# BENCH_TIMEOUT change that); `tests` or `bench` alone split it over two calls.
# It runs under the machine's own python3 and torch (not this repo's CPU venv): the package is
# put on PYTHONPATH, not installed. Packages the machine lacks (lm-eval, datasets) come from
# .gpu-wheels/ when present (made here by `bash benchmarks/gpu_wheels.sh`); without them the
# lm-eval test skips with its reason.
set -u -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/gpu-checks}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/workflow:$PWD/tests${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || rocm-smi --showproductname 2>/dev/null
  "$PY" -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda,
"hip", torch.version.hip, "gpus", torch.cuda.device_count(), torch.cuda.get_device_name() if torch.cuda.is_available() else "none",
"bf16", torch.cuda.is_available() and torch.cuda.is_bf16_supported())'
} 2>&1 | tee "$OUT/env.txt"

if [ -d .gpu-wheels ]; then
  "$PY" -m pip install -q --no-deps --no-index .gpu-wheels/*.whl 2>&1 | tail -3 | tee -a "$OUT/env.txt"
fi
"$PY" - <<'PY' 2>&1 | tee -a "$OUT/env.txt"
import importlib
for name in ("torch", "triton", "transformers", "safetensors", "tokenizers", "pyarrow", "yaml", "pytest", "lm_eval", "datasets"):
    try:
        module = importlib.import_module(name)
        print(f"{name:>12}: {getattr(module, '__version__', 'present')}")
    except ImportError as err:
        print(f"{name:>12}: MISSING ({err})")
PY

PART=${1:-all}
status=0
if [ "$PART" = all ] || [ "$PART" = tests ]; then
  timeout "${TESTS_TIMEOUT:-300}" "$PY" -m pytest tests/gpu -m gpu -rs -p no:cacheprovider \
    --junitxml="$OUT/gpu_tests.xml" 2>&1 | tee "$OUT/gpu_tests.log" || status=1
fi
if [ "$PART" = all ] || [ "$PART" = bench ]; then
  timeout "${BENCH_TIMEOUT:-270}" "$PY" benchmarks/gpu_train.py --steps 8 --json "$OUT/gpu_train.json" \
    --metrics "$OUT/gpu_train_metrics.jsonl" 2>&1 | tee "$OUT/gpu_train.log" || status=1
fi
echo "results in $OUT: env.txt gpu_tests.log gpu_tests.xml gpu_train.log gpu_train.json gpu_train_metrics.jsonl"
exit $status
