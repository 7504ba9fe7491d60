"""Controller side: one `train_segment` job makes its step complete (adopt, submit or train here)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from cpt import cluster
from cpt.atomic import write_json
from cpt.chain import lease, preflight
from cpt.chain.commands import ChainError, submit, trainer_args, world_size
from cpt.chain.progress import newest_valid, stale_seconds
from cpt.progress import hms
from cpt.rundir import lineage
from cpt.rundir.paths import RunDir

log = logging.getLogger("cpt")


def segment(config: dict, step: int, out: Path, use_slurm: bool) -> None:
    """Make step `step` complete (adopting, submitting or training), then write `out`."""
    run = RunDir.of(config)
    train = run.train
    with lease.locked(train):
        lineage.check_config(config, train)
        if lineage.read_history(train) not in ([], lineage.next_history(config, train)):
            live = lease.live_jobs(lease.read(config["run"], train))
            if live:
                raise ChainError(f"job(s) {[job for job, _ in live]} of the chain still train with the settings "
                                 f"recorded before (train.continue_from, or a pipeline upgrade that redefined the "
                                 f"training digest); scancel them, then run again")
        history = lineage.record_settings(config, train)
    if _done(run, step, out, history):
        return
    if use_slurm:
        with lease.locked(train):
            adopting = bool(lease.live_jobs(lease.read(config["run"], train)))
        if not adopting:   # a new chain: none larger than the preflight without its passing record
            preflight.ensure(config, config["train"]["chain"]["poll_seconds"])
    with lease.locked(train):
        record = lease.read(config["run"], train)
        live = lease.live_jobs(record)
        write_json(run.chain_config, {"config": config})  # queued jobs read operational edits from here
        if live:
            log.info("adopting the run's training job(s) %s; not submitting another",
                     ", ".join(f"{job} ({state})" for job, state in live))
        elif lease.local_live(record, stale_seconds(config)):
            log.info("a local trainer (pid %s on %s) holds the run; waiting for it", record["local"]["pid"],
                     record["local"]["host"])
        elif use_slurm:
            record.update(jobs=[submit(config)], failures=0, gave_up=None)
            lease.write(train, record)
            log.info("submitted training chain job %s (log: %s/%s.log)", record["jobs"][0], run.jobs.resolve(),
                     record["jobs"][0])
        else:
            record["local"] = lease.holder_entry()
            lease.write(train, record)
    if not live and not use_slurm and record["local"]["pid"] == os.getpid():
        _train_locally(config, train, step)
    _wait(config, run, step, history)
    _done(run, step, out, history)


def _done(run: RunDir, step: int, out: Path, history: list[dict]) -> bool:
    checkpoint = run.checkpoint(step)
    record = lineage.valid_record(run.checkpoints, step, history)
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


def _wait(config: dict, run: RunDir, step: int, history: list[dict]) -> None:
    """Poll until step `step` is complete and valid, or no writer is left to make it."""
    poll = config["train"]["chain"]["poll_seconds"]
    started, last_log = time.monotonic(), 0.0
    while lineage.valid_record(run.checkpoints, step, history) is None:
        with lease.locked(run.train):
            record = lease.read(config["run"], run.train)
            live = lease.live_jobs(record)
            local = lease.local_live(record, stale_seconds(config))
        if not live and not local:
            if lineage.valid_record(run.checkpoints, step, history) is not None:
                break
            job = record.get("owner") or (record["jobs"] or [None])[-1]
            where = f"read {run.jobs.resolve()}/{job}.log" if job else "no chain job ran"
            raise ChainError(f"the training chain ended without step {step} (newest valid step "
                             f"{newest_valid(run, history)}; failures {record.get('failures', 0)}): {where}")
        if time.monotonic() - last_log >= max(poll, 60) or not last_log:
            last_log = time.monotonic()
            jobs = ", ".join(f"{j} {s}" for j, s in live) or f"local pid {record['local']['pid']}"
            log.info("waiting for step %d: %s; newest valid checkpoint step %d; %s elapsed", step, jobs,
                     newest_valid(run, history), hms(time.monotonic() - started))
        time.sleep(poll)
