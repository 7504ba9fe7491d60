"""All tasks of one evaluated step in one node job, each on its own GCD, at the same time.

Frontier allocates and charges whole nodes, so a one-GCD lm-eval job leaves 7 GCDs idle.
Snakemake job groups do not help here: snakemake-executor-plugin-slurm (2.8.0) runs a group's
members one after another (its inner Snakemake gets `--jobs 1`; plugin issue #469), so 8 evals
in a group would take 8x the time on one GCD. This launcher runs `cpt.evaluate.run` once per
task, concurrently, with at most `--gcds` at a time, each child seeing one GCD of the job.

    python -m cpt.evaluate.node --gcds 8 --tasks '[{"name": .., "task": .., "num_fewshot": ..,
        "metric": .., "out": .., "log": ..}]' -- --model-dir M --step S --batch-size 16 ...
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from cpt import devices

log = logging.getLogger("cpt.evaluate")


def job_gpus(env: dict, gcds: int) -> list[str]:
    """The GPU ids this job may use: Slurm's list (ROCR_/CUDA_VISIBLE_DEVICES) if set, else 0..gcds-1."""
    for key in devices.VISIBLE.values():
        if env.get(key):
            return env[key].split(",")[:gcds]
    return [str(i) for i in range(gcds)]


def run_all(commands: list[tuple[list[str], Path]], gpus: list[str], env: dict | None = None,
            poll_seconds: float = 0.2) -> list[int]:
    """Run each (argv, log) with one GPU of `gpus`, at most len(gpus) at once; exit codes in order."""
    env = dict(os.environ if env is None else env)
    runtime = devices.vendor(env)
    log.info("narrowing each task to one GPU with %s", devices.VISIBLE[runtime])
    pending, running, codes = list(enumerate(commands)), {}, [0] * len(commands)
    free = list(gpus)
    start = time.monotonic()
    while pending or running:
        while pending and free:
            index, (argv, log_path) = pending.pop(0)
            gpu = free.pop(0)
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "wb") as out:
                proc = subprocess.Popen(argv, env=devices.narrowed(env, gpu, runtime), stdout=out,
                                        stderr=subprocess.STDOUT)
            running[index] = (proc, gpu)
            log.info("started %s on GPU %s (log %s)", " ".join(argv[3:7]), gpu, log_path)
        for index, (proc, gpu) in list(running.items()):
            if proc.poll() is not None:
                codes[index] = proc.returncode
                free.append(gpu)
                del running[index]
                done = len(commands) - len(pending) - len(running)
                log.info("%d/%d finished (exit %d) after %.0f s", done, len(commands), proc.returncode,
                         time.monotonic() - start)
        time.sleep(poll_seconds)
    return codes


def task_commands(tasks: list[dict], run_args: list[str]) -> list[tuple[list[str], Path]]:
    """One `python -m cpt.evaluate.run` per task, sharing the model and run arguments."""
    return [([sys.executable, "-m", "cpt.evaluate.run", "--name", t["name"], "--task", t["task"],
              "--num-fewshot", str(t["num_fewshot"]), "--metric", t["metric"], "--out", t["out"], *run_args],
             Path(t["log"])) for t in tasks]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cpt.evaluate.node", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gcds", type=int, required=True, help="GPUs (GCDs) of the node job: tasks run at once")
    parser.add_argument("--tasks", required=True, help="JSON list of {name, task, num_fewshot, metric, out, log}")
    parser.add_argument("run_args", nargs=argparse.REMAINDER, help="after --: arguments every cpt.evaluate.run gets")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    run_args = args.run_args[1:] if args.run_args[:1] == ["--"] else args.run_args
    codes = run_all(task_commands(json.loads(args.tasks), run_args), job_gpus(os.environ, args.gcds))
    # cpt.evaluate.run exits 0 even when its task fails (it writes a 'failed' record): nonzero is a crash
    return max(codes, default=0)


if __name__ == "__main__":
    sys.exit(main())
