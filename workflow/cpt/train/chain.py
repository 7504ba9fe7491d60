"""The training chain, driven by Slurm itself rather than by the Snakemake controller.

`python -m cpt.train.chain segment --step K` is the controller's `train_segment`
job (a localrule). It returns at once when step K's checkpoint is complete and
valid (cpt.train.lineage); otherwise, under the run's writer lock
(cpt.train.lease), it adopts the chain's live or queued Slurm job, or submits
one (the request cpt.cluster computes for train_segment), and waits, logging,
until step K is complete or the chain ends without it (then it fails, naming
the job's log). Without a Slurm profile it runs the trainer itself (torchrun),
to step K, holding the record with a heartbeat.

`python -m cpt.train.chain job` is each chain job's batch script. Under the
lock it checks that no other job of the run trains, queues its own successor
(`--dependency=afterany:<own id>`), then trains to the run's last step with
srun. A job stopped by the time-limit signal saves and exits 0: the queued
successor continues (a continuation, not a failure); a job that fails counts
against train.resubmits, and its successor retries. So training runs to the
end with no controller alive; a controller that returns adopts the chain.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from cpt import cluster
from cpt.atomic import write_json
from cpt.digest import config_digest, training_digest
from cpt.train import lease, lineage
from cpt.train.sinks import live_settings

log = logging.getLogger("cpt")
CHAIN_CONFIG = "chain-config.json"


class ChainError(RuntimeError):
    """The chain cannot reach its step; the message names the job log to read."""


def train_dir(config: dict) -> Path:
    return Path(config["results_dir"]) / config["run"] / "train"


def world_size(config: dict) -> int:
    return math.prod(config["train"]["parallel"].values())


def trainer_args(config: dict, until_step: int) -> list[str]:
    """`-m cpt.train ...` for this config: the same on every rank, locally or under srun."""
    run_dir = Path(config["results_dir"]) / config["run"]
    return ["-m", "cpt.train", "--train-config", json.dumps(config["train"]),
            "--manifest", str(run_dir / "data" / "manifest.json"), "--base-dir", config["model"]["base_dir"],
            "--train-dir", str(train_dir(config)), "--seq-len", str(config["data"]["seq_len"]),
            "--until-step", str(until_step), "--training-digest", training_digest(config),
            "--config-digest", config_digest(config), "--live", json.dumps(live_settings(config))]


def sbatch_command(config: dict, train: Path, after: str | None = None) -> list[str]:
    """One chain job: the train_segment request from config `slurm` (cpt.cluster), as sbatch flags."""
    tasks = world_size(config)
    res = cluster.resources(config, "train_segment", tasks)
    per_node = config["slurm"]["launch"]["tasks_per_node"]
    args = ["sbatch", "--parsable", f"--job-name=cpt-train-{config['run']}", f"--partition={res['slurm_partition']}",
            f"--time={res['runtime']}", f"--nodes={res['nodes']}", f"--ntasks={tasks}",
            f"--ntasks-per-node={min(per_node, tasks)}", f"--cpus-per-task={res['cpus_per_task']}",
            f"--output={train.resolve()}/jobs/%j.log", f"--chdir={os.getcwd()}"]
    if res.get("mem_mb"):
        args.append(f"--mem={res['mem_mb']}")
    if res.get("constraint"):
        args.append(f"--constraint={res['constraint']}")
    if "slurm_account" in res:
        args.append(f"--account={res['slurm_account']}")
    args += shlex.split(res.get("slurm_extra", ""))  # --signal=USR1@<s>: to the ranks (see cpt.cluster)
    if after:
        args.append(f"--dependency=afterany:{after}")
    job = f"{shlex.quote(sys.executable)} -m cpt.train.chain job --train-dir {shlex.quote(str(train.resolve()))}"
    return [*args, "--wrap", job]


def srun_command(config: dict, until_step: int) -> list[str]:
    """The trainer's ranks inside a chain job's allocation: one task per GPU, from the node-local
    staged environment when slurm.launch.stage_env is set (cpt.cluster.rank_launch)."""
    tasks = world_size(config)
    nodes = math.ceil(tasks / config["slurm"]["launch"]["tasks_per_node"])
    launch = cluster.rank_launch(config, nodes, tasks, python=shlex.quote(sys.executable))
    return ["bash", "-c", f"{launch} {shlex.join(trainer_args(config, until_step))}"]


def submit(config: dict, train: Path, after: str | None = None) -> str:
    (train / "jobs").mkdir(parents=True, exist_ok=True)
    out = subprocess.run(sbatch_command(config, train, after), capture_output=True, text=True)
    if out.returncode != 0:
        raise ChainError(f"sbatch of the training chain failed: {out.stderr.strip()}")
    return out.stdout.strip().split(";")[0]


def cancel(job_ids: list[str]) -> None:
    if job_ids:
        subprocess.run(["scancel", *job_ids], capture_output=True)


def newest_valid(train: Path, history: list[dict]) -> int:
    point = lineage.resume_point(train / "checkpoints", history, at_most=10**12)
    return int(point.name.split("-")[1]) if point else -1


def stale_seconds(config: dict) -> float:
    return config["train"]["chain"]["stale_minutes"] * 60


# --- controller side: one segment -------------------------------------------------------------

def segment(config: dict, step: int, out: Path, use_slurm: bool) -> None:
    """Make step `step` complete (adopting, submitting or training), then write `out`."""
    train = train_dir(config)
    with lease.locked(train):
        lineage.check_config(config, train)
        if lineage.read_history(train) not in ([], lineage.next_history(config, train)):
            live = lease.live_jobs(lease.read(config["run"], train))
            if live:
                raise ChainError(f"job(s) {[job for job, _ in live]} of the chain still train with the settings "
                                 f"before train.continue_from; scancel them, then run again")
        history = lineage.record_settings(config, train)
    if _done(train, step, out, history):
        return
    with lease.locked(train):
        record = lease.read(config["run"], train)
        live = lease.live_jobs(record)
        write_json(train / CHAIN_CONFIG, {"config": config})  # queued jobs read operational edits from here
        if live:
            log.info("adopting the run's training job(s) %s; not submitting another",
                     ", ".join(f"{job} ({state})" for job, state in live))
        elif lease.local_live(record, stale_seconds(config)):
            log.info("a local trainer (pid %s on %s) holds the run; waiting for it", record["local"]["pid"],
                     record["local"]["host"])
        elif use_slurm:
            record.update(jobs=[submit(config, train)], failures=0, gave_up=None)
            lease.write(train, record)
            log.info("submitted training chain job %s (log: %s/jobs/%s.log)", record["jobs"][0], train.resolve(),
                     record["jobs"][0])
        else:
            record["local"] = lease.holder_entry()
            lease.write(train, record)
    if not live and not use_slurm and record["local"]["pid"] == os.getpid():
        _train_locally(config, train, step)
    _wait(config, train, step, history)
    _done(train, step, out, history)


def _done(train: Path, step: int, out: Path, history: list[dict]) -> bool:
    checkpoint = train / "checkpoints" / f"step-{step:08d}"
    record = lineage.valid_record(train / "checkpoints", step, history)
    if record is None:
        return False
    write_json(out, {"step": step, "checkpoint": str(checkpoint), "parent": record.get("parent"),
                     "training_digest": record.get("training_digest"), "config_digest": record.get("config_digest")})
    log.info("step %d is complete and belongs to this run: %s", step, checkpoint)
    return True


def _train_locally(config: dict, train: Path, step: int) -> None:
    """torchrun on this machine, to `step`, holding the record (heartbeat) until it exits."""
    launch = cluster.launcher(config, {"tasks": world_size(config)}).split()
    argv = [sys.executable, *launch[1:], *trainer_args(config, step)]
    try:
        with lease.Heartbeat(config["run"], train, config["train"]["chain"]["heartbeat_seconds"], "local"):
            code = subprocess.run(argv).returncode
    finally:
        with lease.locked(train):
            record = lease.read(config["run"], train)
            record["local"] = None
            lease.write(train, record)
    if code != 0:
        raise ChainError(f"the trainer exited with {code} before step {step}; its output is above")


def _wait(config: dict, train: Path, step: int, history: list[dict]) -> None:
    """Poll until step `step` is complete and valid, or no writer is left to make it."""
    poll = config["train"]["chain"]["poll_seconds"]
    started, last_log = time.monotonic(), 0.0
    while lineage.valid_record(train / "checkpoints", step, history) is None:
        with lease.locked(train):
            record = lease.read(config["run"], train)
            live = lease.live_jobs(record)
            local = lease.local_live(record, stale_seconds(config))
        if not live and not local:
            if lineage.valid_record(train / "checkpoints", step, history) is not None:
                break
            job = record.get("owner") or (record["jobs"] or [None])[-1]
            where = f"read {train.resolve()}/jobs/{job}.log" if job else "no chain job ran"
            raise ChainError(f"the training chain ended without step {step} (newest valid step "
                             f"{newest_valid(train, history)}; failures {record.get('failures', 0)}): {where}")
        if time.monotonic() - last_log >= max(poll, 60) or not last_log:
            last_log = time.monotonic()
            jobs = ", ".join(f"{j} {s}" for j, s in live) or f"local pid {record['local']['pid']}"
            log.info("waiting for step %d: %s; newest valid checkpoint step %d; %s elapsed", step, jobs,
                     newest_valid(train, history), _hms(time.monotonic() - started))
        time.sleep(poll)


def _hms(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


# --- Slurm side: one chain job ----------------------------------------------------------------

def job(train: Path) -> int:
    """One chain job: claim the run, queue the successor, train to the last step, account the outcome."""
    me = os.environ["SLURM_JOB_ID"]
    config = json.loads((train / CHAIN_CONFIG).read_text())["config"]
    final, run = config["train"]["steps"], config["run"]
    with lease.locked(train):
        record = lease.read(run, train)
        history = lineage.read_history(train)
        others = [job for job, state in lease.live_jobs(record, exclude=me) if state != "PENDING"]
        if others:
            log.info("job(s) %s hold run %r; job %s does not train (one writer)", others, run, me)
            return 0
        if lineage.valid_record(train / "checkpoints", final, history):
            log.info("step %d, the run's last, is complete: nothing to train", final)
            record["jobs"] = [j for j in record["jobs"] if j != me]
            lease.write(train, record)
            return 0
        if record.get("failures", 0) > config["train"]["resubmits"]:
            log.error("the chain failed %d times in a row (train.resubmits=%d); giving up", record["failures"],
                      config["train"]["resubmits"])
            return 1
        successor = submit(config, train, after=me)
        record.update(jobs=[*[j for j in record["jobs"] if j != me], me, successor], owner=me,
                      heartbeat=time.time())
        lease.write(train, record)
    start_step = newest_valid(train, history)
    log.info("job %s trains run %r from step %d to %d; successor %s queued (afterany)", me, run, start_step,
             final, successor)
    with lease.Heartbeat(run, train, config["train"]["chain"]["heartbeat_seconds"], "owner"):
        code = subprocess.run(srun_command(config, final)).returncode
    return _account(config, train, me, successor, code, start_step)


def _account(config: dict, train: Path, me: str, successor: str, code: int, start_step: int) -> int:
    """After the trainer: done (cancel the successor), continuation, or a failure (counted)."""
    with lease.locked(train):
        record = lease.read(config["run"], train)
        reached = newest_valid(train, lineage.read_history(train))
        record["jobs"] = [j for j in record["jobs"] if j != me]
        if reached >= config["train"]["steps"]:
            cancel([successor])
            record["jobs"] = []
            log.info("reached step %d, the run's last; cancelled successor %s", reached, successor)
        elif code == 0:
            record["failures"] = 0
            log.info("continuation: stopped at step %d (time-limit signal); job %s continues", reached, successor)
        else:
            record["failures"] = 0 if reached > start_step else record.get("failures", 0) + 1
            log.error("trainer exited with %d at step %d (real failure %d of train.resubmits=%d); job %s retries",
                      code, reached, record["failures"], config["train"]["resubmits"], successor)
        lease.write(train, record)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cpt.train.chain", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    seg = sub.add_parser("segment", help="controller side: make step --step complete, write --out")
    seg.add_argument("--config", required=True, help="the whole validated config as inline JSON")
    seg.add_argument("--step", type=int, required=True, help="the segment's last step")
    seg.add_argument("--out", type=Path, required=True, help="the segment's record (the rule's output)")
    seg.add_argument("--mode", choices=["slurm", "local"], required=True,
                     help="slurm: drive a chain of Slurm jobs (a Slurm profile is active); local: train here")
    chain_job = sub.add_parser("job", help="a chain job's batch script (submitted by `segment`)")
    chain_job.add_argument("--train-dir", type=Path, required=True)
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        if ns.command == "job":
            return job(ns.train_dir)
        segment(json.loads(ns.config), ns.step, ns.out, ns.mode == "slurm")
    except (ChainError, lease.LeaseError) as err:
        log.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
