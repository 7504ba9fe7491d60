#!/usr/bin/env bash
# Every GPU check in one go, for a machine with a GPU (minutes of device time): versions, a
# seconds-long NCCL check, the throughput benchmark, then the GPU tests (pytest -m gpu), each
# result written under $OUT as it is made.
#
#   OUT=results/gpu-checks bash benchmarks/gpu_checks.sh [all|tests|bench]   # from the repo root
#
# Order: a missing torch or GPU stops at once with the reason; the NCCL check (NCCL_TIMEOUT,
# 60 s at most, ~5 s) stops a broken NCCL before minutes are spent; the benchmark goes first
# because its JSON is the planner's input (written after the trainer half, again after the bare
# half), within BENCH_TIMEOUT (default 240 s); the tests get the rest of BUDGET_S (default 540 s,
# inside a 10-minute device call). `tests` or `bench` alone split it over two calls.
# It runs under the machine's own python3 and torch (not this repo's CPU venv): the package is
# put on PYTHONPATH, not installed. Packages the machine lacks (lm-eval, datasets) come from
# .gpu-wheels/ when present (made here by `bash benchmarks/gpu_wheels.sh`; carry it), installed
# into a folder of their own ($SITE) so the machine's environment stays as it was; without
# them the lm-eval test skips with its reason.
# Then, here: python -m cpt.plan <config at the benchmark's shape> --measured $OUT/gpu_train.json
set -u -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/gpu-checks}
PY=${PYTHON:-python3}
SITE=${SITE:-/tmp/cpt-gpu-site}
BUDGET_S=${BUDGET_S:-540}
deadline=$(( $(date +%s) + BUDGET_S ))
left() { echo $(( deadline - $(date +%s) )); }
timed() {  # timed SECONDS LOG CMD...: CMD under a time limit, its output into LOG too
  local limit=$1 log=$2; shift 2
  : > "$log"
  if [ "$limit" -lt 30 ]; then echo "skipped: ${limit} s left of BUDGET_S=$BUDGET_S" | tee -a "$log"; return 1; fi
  echo "up to ${limit} s: $*" | tee -a "$log"
  timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$log"
}
mkdir -p "$OUT"
if ! "$PY" -c 'import sys, torch
sys.exit(0) if torch.cuda.is_available() else sys.exit(f"no GPU visible to torch {torch.__version__} (cuda {torch.version.cuda}, hip {torch.version.hip}): the GPU checks need one")' 2> "$OUT/env.txt"; then
  grep -q "^no GPU" "$OUT/env.txt" || echo "no torch for $PY: the GPU checks need a CUDA or ROCm build of torch on this machine (PYTHON=... names another python)" > "$OUT/env.txt"
  cat "$OUT/env.txt"
  exit 2
fi
export PYTHONPATH="$PWD/workflow:$PWD/tests${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || rocm-smi --showproductname 2>/dev/null
  "$PY" -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda,
"hip", torch.version.hip, "gpus", torch.cuda.device_count(), torch.cuda.get_device_name() if torch.cuda.is_available() else "none",
"bf16", torch.cuda.is_available() and torch.cuda.is_bf16_supported())'
} 2>&1 | tee "$OUT/env.txt"

if compgen -G ".gpu-wheels/*.whl" > /dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
    .gpu-wheels/*.whl 2>&1 | tail -3 | tee -a "$OUT/env.txt"
  export PYTHONPATH="$PYTHONPATH:$SITE"   # the wheels hold only what the image lacks (gpu_wheels.sh)
fi
"$PY" - <<'PY' 2>&1 | tee -a "$OUT/env.txt"
import importlib
for name in ("torch", "triton", "transformers", "safetensors", "tokenizers", "pyarrow", "yaml", "numpy", "pytest",
             "lm_eval", "datasets"):
    try:
        module = importlib.import_module(name)
        print(f"{name:>12}: {getattr(module, '__version__', 'present')}")
    except ImportError as err:
        print(f"{name:>12}: MISSING ({err})")
import torch
if not torch.__version__.startswith("2.13"):
    print(f"note: torch {torch.__version__} here; the project is developed and tested on CPU with torch 2.13")
PY

PART=${1:-all}
status=0
if ! timed "${NCCL_TIMEOUT:-60}" "$OUT/nccl_check.log" "$PY" benchmarks/nccl_check.py; then
  echo "NCCL check failed (log: $OUT/nccl_check.log): nothing else runs on a broken collective stack"
  exit 1
fi
if [ "$PART" = all ] || [ "$PART" = bench ]; then
  limit=${BENCH_TIMEOUT:-240}
  [ "$PART" = bench ] && limit=$(( $(left) - 10 ))
  timed "$limit" "$OUT/gpu_train.log" "$PY" benchmarks/gpu_train.py --steps 8 --json "$OUT/gpu_train.json" \
    --metrics "$OUT/gpu_train_metrics.jsonl" || status=1
fi
if [ "$PART" = all ] || [ "$PART" = tests ]; then
  timed "$(( $(left) - 10 ))" "$OUT/gpu_tests.log" "$PY" -m pytest tests/gpu -m gpu -rs -p no:cacheprovider \
    --junitxml="$OUT/gpu_tests.xml" || status=1
fi
echo "results in $OUT:"; ls -l "$OUT"
exit $status
