"""Batch-job side: one chain job claims the run, queues its successor, trains, accounts the outcome."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from pathlib import Path

from cpt.chain import lease
from cpt.chain.commands import cancel, srun_command, submit
from cpt.chain.progress import newest_valid
from cpt.rundir import lineage
from cpt.rundir.paths import CHAIN_CONFIG, RunDir

log = logging.getLogger("cpt")


def job(train: Path) -> int:
    """One chain job: claim the run, queue the successor, train to the last step, account the outcome.
    `train` is the run's train dir; the job runs in the submitter's working directory (--chdir), where
    the config's relative paths hold."""
    me = os.environ["SLURM_JOB_ID"]
    config = json.loads((train / CHAIN_CONFIG).read_text())["config"]
    final, run = config["train"]["steps"], config["run"]
    checkpoints = RunDir.of(config).checkpoints
    with lease.locked(train):
        record = lease.read(run, train)
        history = lineage.read_history(train)
        others = [job for job, state in lease.live_jobs(record, exclude=me) if state != "PENDING"]
        if others:
            log.info("job(s) %s hold run %r; job %s does not train (one writer)", others, run, me)
            return 0
        if lineage.valid_record(checkpoints, final, history):
            log.info("step %d, the run's last, is complete: nothing to train", final)
            record["jobs"] = [j for j in record["jobs"] if j != me]
            lease.write(train, record)
            return 0
        if record.get("failures", 0) > config["train"]["resubmits"]:
            log.error("the chain failed %d times in a row (train.resubmits=%d); giving up", record["failures"],
                      config["train"]["resubmits"])
            return 1
        successor = submit(config, after=me)
        record.update(jobs=[*[j for j in record["jobs"] if j != me], me, successor], owner=me,
                      heartbeat=time.time())
        lease.write(train, record)
    start_step = newest_valid(RunDir.of(config), history)
    log.info("job %s trains run %r from step %d to %d; successor %s queued (afterany)", me, run, start_step,
             final, successor)
    with lease.Heartbeat(run, train, config["train"]["chain"]["heartbeat_seconds"], "owner"):
        code = subprocess.run(srun_command(config, final)).returncode
    return _account(config, train, me, successor, code, start_step)


def _account(config: dict, train: Path, me: str, successor: str, code: int, start_step: int) -> int:
    """After the trainer: done (cancel the successor), continuation, or a failure (counted)."""
    with lease.locked(train):
        record = lease.read(config["run"], train)
        reached = newest_valid(RunDir.of(config), lineage.read_history(train))
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
