"""One trainer per train directory, enforced by the trainer: its rank 0 holds an exclusive flock of
`<train>/trainer.lock` for as long as it trains (cpt.train.loop; torch-free here, so the chain's
lease and the status view could use the same lock).

torchrun starts each rank in a session of its own, so a launcher killed with SIGKILL (the OOM
killer, a lost login shell) leaves its ranks training; without this lock a second trainer on
the same directory would start beside them and the two would interleave checkpoints. The
kernel drops a flock when its process dies, however it dies, so a crash never leaves a stale
lock and there is nothing to clean up. Beside the lock, `<train>/trainer.json` names the
holder (host, pid, since) for the refusal a second trainer prints. The chain's lease
(writer.json under writer.lock, held only for read-modify-writes) guards Slurm submissions;
this lock guards the directory against any trainer, chained or started by hand.

On Lustre, flock is coherent across nodes only on clients mounted with `-o flock` (Orion's
are). With `noflock` (or a file system without flock) the call fails (ENOSYS/EINVAL/EOPNOTSUPP):
the trainer then refuses to start, as the chain's lease cannot work there either. With
`-o localflock` locks are node-local: a second trainer on the same node is still stopped, one on
another node is not; the trainer warns and starts. A node lost while holding the lock keeps it
until the Lustre servers evict that client (minutes); a trainer started meanwhile is refused.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from cpt.atomic import write_json
from cpt.rundir.paths import TRAINER as RECORD
from cpt.rundir.paths import TRAINER_LOCK as LOCK

log = logging.getLogger("cpt")

UNSUPPORTED = {errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP}


class TrainDirBusy(RuntimeError):
    """Another trainer holds the train directory (or it cannot be locked); the message says what to do."""


@contextlib.contextmanager
def held(train_dir: Path) -> Iterator[None]:
    """Hold the directory's lock while the block runs; raise TrainDirBusy if another process holds it."""
    train_dir.mkdir(parents=True, exist_ok=True)
    with open(train_dir / LOCK, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TrainDirBusy(refusal(train_dir)) from None
        except OSError as err:
            if err.errno not in UNSUPPORTED:
                raise
            raise TrainDirBusy(f"{train_dir / LOCK}: flock is not supported there ({err.strerror}), so the trainer "
                               "cannot make sure it is the directory's only writer. On Lustre the client must be "
                               "mounted with `-o flock` (see the options in /proc/mounts); put results_dir on a "
                               "file system with flock, or ask the administrators to mount it with flock") from None
        if "localflock" in mount_options(train_dir):
            log.warning("%s is on a mount with localflock: the trainer's lock stops a second trainer on this node "
                        "only, not one on another node", train_dir)
        write_json(train_dir / RECORD, {"host": socket.gethostname(), "pid": os.getpid(),
                                        "since": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        yield


def refusal(train_dir: Path) -> str:
    """Who holds the directory, from its record, and what to do about it."""
    try:
        record = json.loads((train_dir / RECORD).read_text())
        holder = f"host {record['host']}, pid {record['pid']}, since {record['since']}"
        stop = (f"stop it with `kill {record['pid']}` on {record['host']} (SIGTERM: it saves at its next step "
                "and exits, its other ranks with it)")
    except (OSError, ValueError, KeyError, TypeError):
        holder, stop = f"holder unknown ({train_dir / RECORD} unreadable)", "stop it"
    return (f"{train_dir} is being trained by another trainer ({holder}); two trainers on one train dir interleave "
            f"checkpoints. Wait for it to finish, or, if it is a leftover (a killed torchrun leaves its ranks "
            f"running), {stop}; then start this one again")


def mount_options(path: Path, mountinfo: str | None = None) -> set[str]:
    """Mount and super-block options of the mount holding `path` (from /proc/self/mountinfo)."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return set()
    where, best, options = os.path.realpath(path), "", set()
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 6:
            continue
        point = fields[4].replace("\\040", " ")
        inside = where == point or where.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, options = point, {*fields[5].split(","), *(tail[2].split(",") if len(tail) > 2 else ())}
    return options
