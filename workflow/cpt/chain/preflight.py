"""The compute preflight: before the chain submits its first job larger than the preflight (the
64-node segment), one short job on `slurm.preflight.nodes` nodes, started exactly as the chain starts
its jobs (same sbatch request but nodes and walltime, same environment, staged env, srun line and
network flag), proves the environment, the network, the step time and the memory:

1. all-reduce across its nodes through the trainer's start-up (device guard, comm check), with the
   bus bandwidth (cpt.train.allreduce);
2. `steps` training steps at the run's shape on the real mix and base model (the run's TP, the other
   ranks as data shards), in a scratch dir that is deleted (no checkpoint kept): step time and peak
   memory per GCD against the plan;
3. the first eval task on one GCD with a small limit.

Its record (results/<run>/train/preflight.json) names the training digest; the controller submits no
larger chain job without a passing record for the current digest, unless slurm.preflight.skip is set.
A broken environment then costs about one node-hour instead of a 64-node allocation.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from cpt import devices
from cpt.atomic import write_json
from cpt.chain import lease
from cpt.chain.commands import ChainError, nodes, srun_command, submit, trainer_args
from cpt.digest import training_digest
from cpt.rundir.metrics import read_metrics
from cpt.rundir.paths import RunDir

log = logging.getLogger("cpt")


def preflight_config(config: dict) -> dict:
    """The run's config at the preflight's size: its nodes' ranks as TP x data shards, its steps, its
    partition and walltime in place of train_segment's (every other flag of the request is the chain's)."""
    spec, c = config["slurm"]["preflight"], copy.deepcopy(config)
    tp = c["train"]["parallel"]["tp"]
    ranks = spec["nodes"] * c["slurm"]["launch"]["tasks_per_node"]
    c["train"]["parallel"] = {"dp_replicate": 1, "dp_shard": ranks // tp, "tp": tp}
    c["train"].update(steps=spec["steps"], steps_per_segment=spec["steps"])
    request = c["slurm"]["resources"].setdefault("train_segment", {})
    request.update(partition=spec["partition"], hours=spec["hours"])
    return c


def needed(config: dict) -> bool:
    """A chain job larger than the preflight, and no key that skips it."""
    return not config["slurm"]["preflight"]["skip"] and nodes(config) > config["slurm"]["preflight"]["nodes"]


def record(config: dict) -> dict | None:
    path = RunDir.of(config).preflight_record
    return json.loads(path.read_text()) if path.exists() else None


def passing(config: dict) -> bool:
    found = record(config)
    return bool(found and found["passed"] and found["training_digest"] == training_digest(config))


def ensure(config: dict, poll_seconds: float) -> None:
    """Return when no preflight is needed or one passed for this training digest; otherwise run one
    (submit, wait) and raise ChainError with its reasons when it fails."""
    if not needed(config) or passing(config):
        return
    run, small = RunDir.of(config), preflight_config(config)
    run.preflight.mkdir(parents=True, exist_ok=True)
    write_json(run.preflight / "config.json", {"config": small, "training_digest": training_digest(config)})
    first = config["eval"]["tasks"][0]   # its data from the hub here (the login node): jobs are offline
    task = first["task"]
    if not run.prefetched(first["name"]).exists() and subprocess.run(
            [sys.executable, "-m", "cpt.evaluate.prefetch", "--task", task,
             *(f"--include-path={p}" for p in config["eval"]["include_path"]),
             "--out", str(run.preflight / "prefetch.json")]).returncode:
        raise ChainError(f"the compute preflight's eval task {task} could not be fetched on the login node (output "
                         "above); the preflight needs it, so nothing was submitted")
    run.preflight_record.unlink(missing_ok=True)   # a job that dies early must not leave an older verdict
    job = submit(small, entry="preflight-job")
    log.info("submitted the compute preflight, job %s (%d nodes, %s h; log %s/%s.log): no %d-node chain job "
             "before it passes", job, nodes(small), config["slurm"]["preflight"]["hours"], run.jobs.resolve(), job,
             nodes(config))
    while lease.slurm_state(job) is not None:
        time.sleep(poll_seconds)
    found = record(config)
    if not passing(config):
        why = "; ".join(found["reasons"]) if found else "it wrote no record"
        raise ChainError(f"the compute preflight (job {job}) failed: {why}. Read {run.jobs.resolve()}/{job}.log, fix, "
                         "and run again; slurm.preflight.skip: true submits the chain without it")


def verdict(config: dict, digest: str, comm: dict | None, metrics: list[dict], evaluation: dict | None) -> dict:
    """The record for the run's training digest: each check's figures (at the preflight's `config`) and the
    reasons it fails (none: passed)."""
    steps = config["train"]["steps"]
    reasons = []
    if not comm or not comm.get("correct"):
        reasons.append("the all-reduce across the preflight's nodes failed or summed wrong (comm check: network "
                       "plugin, NCCL_NET, device guard; its log names which)")
    logged = [r for r in metrics if r.get("step_time_s") is not None]
    peak = max((r.get("memory_peak_gb") or 0.0 for r in logged), default=None)
    if not logged or logged[-1]["step"] < steps:
        reasons.append(f"training stopped before step {steps} (logged up to {logged[-1]['step'] if logged else 0})")
    node = config["slurm"]["node"]   # what the planner allows per GCD (cpt.plan.memory.usable_gb)
    limit = node["gcd_memory_gb"] * (1 - config["slurm"]["planner"]["memory_headroom"])
    if peak is not None and peak > limit:
        reasons.append(f"peak memory {peak:.1f} GB per GCD is over the {limit:.1f} GB the plan allows "
                       "(slurm.node.gcd_memory_gb less slurm.planner.memory_headroom): lower train.micro_batch")
    if not evaluation or evaluation.get("status") != "ok":
        reasons.append(f"the eval task failed: {(evaluation or {}).get('error', 'no result')}")
    times = [r["step_time_s"] for r in logged[1:]] or [r["step_time_s"] for r in logged]   # step 1 compiles
    return {"training_digest": digest, "passed": not reasons, "reasons": reasons, "comm": comm,
            "train": {"steps": len(logged), "step_time_s": statistics.median(times) if times else None,
                      "planned_step_time_s": config["slurm"]["planner"]["seconds_per_step"],
                      "memory_peak_gb": peak, "memory_usable_gb": limit},
            "eval": evaluation}


def job(train: Path) -> int:
    """The preflight's batch script: the three checks in its allocation, then the record."""
    written = json.loads((train / "preflight" / "config.json").read_text())
    small = written["config"]
    run, spec = RunDir.of(small), small["slurm"]["preflight"]
    work = run.preflight
    comm_file, eval_file, scratch = work / "allreduce.json", work / "eval.json", work / "train"
    for path in (comm_file, eval_file):
        path.unlink(missing_ok=True)
    subprocess.run(srun_command(small, 0, ["-m", "cpt.train.allreduce", "--out", str(comm_file),
                                           "--mb", str(spec["allreduce_mb"])]))
    comm = json.loads(comm_file.read_text()) if comm_file.exists() else None
    metrics = []
    if comm and comm["correct"]:
        shutil.rmtree(scratch, ignore_errors=True)
        (scratch / "checkpoints").mkdir(parents=True)
        (scratch / "checkpoints" / run.checkpoint(0).name).symlink_to(run.checkpoint(0).resolve())
        args = trainer_args(small, spec["steps"])
        args[args.index("--train-dir") + 1] = str(scratch)
        subprocess.run(srun_command(small, spec["steps"], args))
        metrics = read_metrics(scratch / "metrics.jsonl").records
        shutil.rmtree(scratch, ignore_errors=True)              # no checkpoint kept
    task = small["eval"]["tasks"][0]
    env = dict(os.environ)
    if any(env.get(name) for name in devices.VISIBLE.values()):   # a GPU job: the first of its GPUs only
        runtime = devices.vendor(env)
        env = devices.narrowed(env, env[devices.VISIBLE[runtime]].split(",")[0], runtime)
    subprocess.run([sys.executable, "-m", "cpt.evaluate.run", "--model-dir", small["model"]["base_dir"], "--step", "0",
                    "--name", task["name"], "--task", task["task"], "--num-fewshot", str(task.get("num_fewshot", 0)),
                    "--metric", task.get("metric", "acc"), "--limit", str(spec["eval_limit"]),
                    *(f"--include-path={p}" for p in small["eval"]["include_path"]), "--out", str(eval_file)], env=env)
    evaluation = json.loads(eval_file.read_text()) if eval_file.exists() else None
    result = {**verdict(small, written["training_digest"], comm, metrics, evaluation),
              "job": os.environ.get("SLURM_JOB_ID")}
    write_json(run.preflight_record, result)
    log.info("compute preflight %s: %s", "passed" if result["passed"] else "FAILED", json.dumps(result, indent=1))
    return 0 if result["passed"] else 1
