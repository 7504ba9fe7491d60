"""Training checkpoints: torch.distributed.checkpoint (DCP) dirs with a completion marker.

Layout: <root>/step-<8 digits>/ holds DCP files (model and optimizer, sharded
per rank, reshardable onto any mesh on load), rng/rank-<r>.pt, and last of all
`complete.json` with the scalar state (step, data position, tokens seen) and
its lineage (parent, settings digests: cpt.rundir.lineage). A dir
without the marker is an interrupted write: resume ignores it, the next save
of that step replaces it, and retention removes it. The LR schedule is a pure
function of the step, so the step is the scheduler's whole state.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import warnings
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import (get_model_state_dict, get_state_dict, set_model_state_dict,
                                                     set_state_dict)

from cpt.atomic import write_json
from cpt.rundir.lineage import complete_steps, marker  # noqa: F401 (the checkpoint API)
from cpt.rundir.paths import MARKER, STEP_DIR, step_dir  # noqa: F401 (the checkpoint API)

log = logging.getLogger("cpt")
# Fault injection for the resume tests: SIGKILL every rank after the step's
# shards are on disk but before its marker, which no external kill can time.
CRASH_BEFORE_MARKER = "CPT_TRAIN_CRASH_BEFORE_MARKER"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names the dir and the fix."""


def latest(root: str | Path, at_most: int | None = None) -> Path | None:
    """The newest complete checkpoint under `root` (incomplete ones are skipped), optionally
    no later than step `at_most`: a rerun segment restarts before its end even when later
    segments' checkpoints are still there (Snakemake reruns those next)."""
    steps = [s for s in complete_steps(root) if at_most is None or s <= at_most]
    return step_dir(root, steps[-1]) if steps else None


def require_complete(path: str | Path) -> dict:
    record = marker(path)
    if record is None:
        raise CheckpointError(f"{path}: not a complete checkpoint (no {MARKER}); it was interrupted while "
                              "being written or is not a checkpoint dir. Use an earlier step-* dir.")
    return record


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def _rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def save(path: str | Path, model, optimizer, record: dict) -> None:
    """Collective: every rank writes its shards; rank 0 writes the marker last."""
    path = Path(path)
    if _rank() == 0 and path.exists():
        shutil.rmtree(path)  # an earlier interrupted write of this step
    _barrier()
    model_sd, optim_sd = get_state_dict(model, optimizer)
    dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(path))
    rng = path / "rng" / f"rank-{_rank()}.pt"
    rng.parent.mkdir(exist_ok=True)
    torch.save(rng_state(), rng)
    _barrier()
    if os.environ.get(CRASH_BEFORE_MARKER) == str(record["step"]):
        os.kill(os.getpid(), signal.SIGKILL)
    if _rank() == 0:
        write_json(path / MARKER, {**record, "has_optimizer": True})
    _barrier()


def load(path: str | Path, model, optimizer) -> dict:
    """Collective: restore model, optimizer (when saved) and RNG; returns the marker record.

    DCP reshards on load, so a checkpoint saved on one mesh loads on any other.
    Step 0 (imported from HF) holds weights only; the optimizer starts fresh.
    """
    record = require_complete(path)
    if record.get("has_optimizer"):
        model_sd, optim_sd = get_state_dict(model, optimizer)
        state = {"model": model_sd, "optim": optim_sd}
        dcp.load(state, checkpoint_id=str(path))
        set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    else:
        state = {"model": get_model_state_dict(model)}
        dcp.load(state, checkpoint_id=str(path))
        set_model_state_dict(model, state["model"])
    rng_file = Path(path) / "rng" / f"rank-{_rank()}.pt"
    if rng_file.exists():  # another world size has other ranks; their RNG streams do not carry over
        set_rng_state(torch.load(rng_file, weights_only=True))
    return record


def save_weights(path: str | Path, state: dict[str, torch.Tensor], record: dict) -> None:
    """Single process: a weights-only checkpoint (step 0 imported from the base model)."""
    path = Path(path)
    shutil.rmtree(path, ignore_errors=True)
    with _single_process():
        dcp.save({"model": state}, checkpoint_id=str(path), no_dist=True)
    write_json(path / MARKER, {**record, "has_optimizer": False})


def load_model_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Single process: the full (unsharded) model weights of a complete checkpoint."""
    require_complete(path)
    metadata = dcp.FileSystemReader(str(path)).read_metadata()
    state = {key.removeprefix("model."): torch.empty(meta.size, dtype=meta.properties.dtype)
             for key, meta in metadata.state_dict_metadata.items() if key.startswith("model.")}
    with _single_process():
        dcp.load({"model": state}, checkpoint_id=str(path), no_dist=True)
    return state


@contextlib.contextmanager
def _single_process():
    """DCP warns that it assumes one process even when told so (no_dist=True); that is the intent."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled", category=UserWarning)
        yield


def retain(root: str | Path, *, keep_last: int, keep_every: int, protected: set[int]) -> list[int]:
    """Delete checkpoints outside keep-last-K, multiples of keep_every and `protected` steps.

    Also removes incomplete dirs older than the newest complete one. The marker
    goes first, so a half-deleted dir reads as incomplete. Returns deleted steps.
    """
    root = Path(root)
    complete = complete_steps(root)
    keep = set(complete[-keep_last:]) | {s for s in complete if s % keep_every == 0} | protected
    newest = complete[-1] if complete else -1
    deleted = []
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        m = STEP_DIR.match(d.name)
        if not m:
            continue
        step = int(m.group(1))
        if (step in complete and step not in keep) or (step not in complete and step < newest):
            (d / MARKER).unlink(missing_ok=True)
            shutil.rmtree(d)
            deleted.append(step)
    return deleted


def rng_state() -> dict:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
