"""Our eval entry point vs calling lm-eval directly, same model and task: overhead ratio.

Both sides run as fresh processes, as a Snakemake job does (interpreter start,
imports, lm-eval's task index, model load, the evaluation); they alternate so
drift hits both alike, and the medians of wall and CPU time are compared. Target: <= 1.05.

    python benchmarks/eval_overhead.py --model-dir demo/model [--task cpt_demo_arith] [--repeats 3]

"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DIRECT = """
import sys, lm_eval
from lm_eval.tasks import TaskManager
model_dir, task, batch, include = sys.argv[1:5]
lm_eval.simple_evaluate(model="hf", model_args={"pretrained": model_dir, "dtype": "float32"},
                        tasks=[task], num_fewshot=0, batch_size=int(batch), device="cpu",
                        log_samples=False, task_manager=TaskManager(include_path=[include]))
"""


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one process; CPU time is what a busy shared machine disturbs least."""
    # Both offline, as on a compute node (ours sets this itself; the hub is never asked).
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default="demo/model", help="HF model dir (python -m cpt.demo demo)")
    parser.add_argument("--task", default="cpt_demo_arith")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not (Path(args.model_dir) / "config.json").is_file():
        sys.exit(f"{args.model_dir}/config.json not found: build the demo model (python -m cpt.demo demo) "
                 "or pass --model-dir")
    from cpt.evaluate.run import DEMO_TASKS

    ours, direct = [], []
    with tempfile.TemporaryDirectory() as tmp:
        ours_cmd = [sys.executable, "-m", "cpt.evaluate.run", "--model-dir", args.model_dir, "--step", "0",
                    "--name", "bench", "--task", args.task, "--batch-size", str(args.batch_size),
                    "--dtype", "float32", "--device", "cpu", "--out", f"{tmp}/r.json"]
        direct_cmd = [sys.executable, "-c", DIRECT, args.model_dir, args.task, str(args.batch_size),
                      str(DEMO_TASKS)]
        timed(direct_cmd)  # warm the page cache for both
        for _ in range(args.repeats):
            ours.append(timed(ours_cmd))
            direct.append(timed(direct_cmd))
    print(f"task {args.task}, model {args.model_dir}, {args.repeats} runs each")
    for i, what in enumerate(("wall", "CPU")):
        o, d = (statistics.median(t[i] for t in runs) for runs in (ours, direct))
        print(f"{what:>4} s, median: cpt.evaluate.run {o:6.2f} {[round(t[i], 1) for t in ours]}, "
              f"lm-eval direct {d:6.2f} {[round(t[i], 1) for t in direct]}, ratio {o / d:.3f} "
              "(target <= 1.05)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
