"""The run's one-writer record: who trains this run now, so nobody else does.

`<train>/writer.json`, read and changed only under an exclusive flock of
`<train>/writer.lock` (held for a read-modify-write, never while training):

    {"run", "train_dir", "jobs": [Slurm ids of the chain, oldest first],
     "local": {"host", "pid", "heartbeat"} | null, "owner", "heartbeat", "failures"}

A Slurm job counts as live while squeue shows it pending or running; a local
trainer while its pid lives (same host) and its heartbeat is fresh. Anything
else is stale and never blocks. A squeue that cannot answer is an error, not
"stale": guessing there would allow two writers.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

from cpt.atomic import write_json
from cpt.rundir.paths import WRITER as RECORD

LOCK = "writer.lock"
# squeue states of a job that may still train (COMPLETING: its batch script has already exited).
LIVE_STATES = {"PENDING", "RUNNING", "CONFIGURING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
               "RESIZING", "SIGNALING", "STAGE_OUT"}


class LeaseError(RuntimeError):
    """The record cannot be trusted or Slurm cannot be asked; the message says what to do."""


@contextlib.contextmanager
def locked(train_dir: str | Path) -> Iterator[None]:
    """Exclusive flock of the run's lock file (on Lustre, mounts need the `flock` option; Orion has it)."""
    train_dir = Path(train_dir)
    train_dir.mkdir(parents=True, exist_ok=True)
    with open(train_dir / LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def empty(run: str, train_dir: str | Path) -> dict:
    return {"run": run, "train_dir": str(Path(train_dir).resolve()), "jobs": [], "local": None, "owner": None,
            "heartbeat": None, "failures": 0}


def read(run: str, train_dir: str | Path) -> dict:
    """The record (an empty one if none); refuses a corrupt one or one of another run or dir."""
    path = Path(train_dir) / RECORD
    if not path.exists():
        return empty(run, train_dir)
    try:
        record = json.loads(path.read_text())
        assert isinstance(record, dict) and isinstance(record["jobs"], list)
    except (json.JSONDecodeError, KeyError, AssertionError):
        raise LeaseError(f"{path}: not a writer record written by cpt.chain.lease (corrupt or foreign). If squeue "
                         f"shows no training job of run {run!r} and no trainer runs, delete the file and retry"
                         ) from None
    where = str(Path(train_dir).resolve())
    if record.get("run") != run or record.get("train_dir") != where:
        raise LeaseError(f"{path}: the record belongs to run {record.get('run')!r} in {record.get('train_dir')} "
                         f"but this is run {run!r} in {where}; a train dir copied from another run? Move it away, "
                         f"or if that run is gone, delete {path}")
    return record


def write(train_dir: str | Path, record: dict) -> None:
    write_json(Path(train_dir) / RECORD, record)


def slurm_state(job_id: str) -> str | None:
    """The job's state in squeue, or None when Slurm no longer knows it."""
    out = subprocess.run(["squeue", "-h", "-j", str(job_id), "-o", "%T"], capture_output=True, text=True)
    if out.returncode != 0:
        if "Invalid job id" in out.stderr:
            return None
        raise LeaseError(f"squeue -j {job_id} failed ({out.stderr.strip()}); cannot tell whether the run's "
                         f"training job is live, so nothing is submitted. Retry when Slurm answers")
    return out.stdout.strip() or None


def live_jobs(record: dict, exclude: str | None = None) -> list[tuple[str, str]]:
    """(job id, state) of the chain's jobs that squeue shows pending or running."""
    states = [(job, slurm_state(job)) for job in record["jobs"] if job != exclude]
    return [(job, state) for job, state in states if state in LIVE_STATES]


def local_live(record: dict, stale_seconds: float, now: float | None = None) -> bool:
    """A local trainer holds the run: fresh heartbeat and (on this host) a live pid."""
    holder = record.get("local")
    if not holder:
        return False
    if (now or time.time()) - holder["heartbeat"] > stale_seconds:
        return False
    if holder["host"] != socket.gethostname():
        return True
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_entry() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "heartbeat": time.time()}


class Heartbeat:
    """Refreshes the record's heartbeat every `seconds` while a trainer runs (a daemon thread)."""

    def __init__(self, run: str, train_dir: str | Path, seconds: float, field: str):
        import threading

        self.run, self.train_dir, self.seconds, self.field = run, train_dir, seconds, field
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.seconds):
            with locked(self.train_dir):
                record = read(self.run, self.train_dir)
                if self.field == "local" and record["local"]:
                    record["local"]["heartbeat"] = time.time()
                else:
                    record["heartbeat"] = time.time()
                write(self.train_dir, record)
