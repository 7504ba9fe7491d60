"""Weights-only older checkpoints: the training chain's storage policy.

A checkpoint with optimizer state is ~3x its weights (fp32 master weights + AdamW's two
fp32 moments). Evaluation and export need only the weights, and resuming needs the
optimizer of the newest checkpoint alone. So, with train.checkpoint.weights_only_older,
once a new checkpoint is complete every older one that is neither the newest segment end
nor among the keep_last newest is rewritten as weights only (its `complete.json` then
says `has_optimizer: false, optimizer_dropped: true`).

Resuming from such a checkpoint (a rerun of an old segment) restarts AdamW's moments:
that changes the run, so it happens only when asked for (CPT_RESUME_WEIGHTS_ONLY=1) and
is logged; otherwise the trainer stops with the reason and both ways out.

The rewrite goes to a sibling dir, then two renames swap it in; a crash between them
leaves `step-N.weights-only` complete and `step-N` missing, which `recover` (run before
every rewrite and by the trainer on start) completes.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from cpt.train import checkpoint
from cpt.rundir.lineage import RESUME_WEIGHTS_ONLY_ENV as RESUME_ENV

log = logging.getLogger("cpt")
REWRITTEN, REPLACED = ".weights-only", ".with-optimizer"


def keep_optimizer(complete: list[int], segment_ends: set[int], keep_last: int) -> set[int]:
    """Steps whose optimizer state stays: the newest segment end and the keep_last newest."""
    ends = [s for s in complete if s in segment_ends]
    return set(complete[-keep_last:]) | set(ends[-1:])


def drop_optimizer_state(root: str | Path, *, segment_ends: set[int], keep_last: int) -> list[int]:
    """Single process (rank 0): rewrite as weights only every complete checkpoint with optimizer state
    outside keep_optimizer(). Returns the steps rewritten."""
    root = Path(root)
    recover(root)
    complete = checkpoint.complete_steps(root)
    keep = keep_optimizer(complete, segment_ends, keep_last)
    rewritten = []
    for step in complete:
        path = checkpoint.step_dir(root, step)
        record = checkpoint.marker(path)
        if step not in keep and record.get("has_optimizer"):
            _rewrite_weights_only(path, record)
            rewritten.append(step)
    return rewritten


def _rewrite_weights_only(path: Path, record: dict) -> None:
    tmp, old = path.with_name(path.name + REWRITTEN), path.with_name(path.name + REPLACED)
    weights = checkpoint.load_model_weights(path)
    checkpoint.save_weights(tmp, weights, {**record, "optimizer_dropped": True})
    if (path / "rng").is_dir():               # the data order's RNG still resumes exactly
        shutil.copytree(path / "rng", tmp / "rng")
    os.rename(path, old)
    os.rename(tmp, path)
    shutil.rmtree(old)


def recover(root: str | Path) -> None:
    """Finish or undo a rewrite that a crash interrupted, so every step dir is whole again."""
    for tmp in sorted(Path(root).glob(f"step-*{REWRITTEN}")):
        path = tmp.with_name(tmp.name.removesuffix(REWRITTEN))
        old = path.with_name(path.name + REPLACED)
        if not path.exists() and checkpoint.marker(tmp) is not None:
            os.rename(tmp, path)               # crashed between the two renames
        elif not path.exists() and old.exists():
            os.rename(old, path)               # crashed before the rewrite was complete
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and checkpoint.marker(path) is not None:
            shutil.rmtree(old)


def check_resume(path: str | Path, environ=os.environ) -> None:
    """Resuming past step 0 from a weights-only checkpoint restarts the optimizer: only on request."""
    record = checkpoint.require_complete(path)
    if record["step"] == 0 or record.get("has_optimizer", True):
        return
    if environ.get(RESUME_ENV) != "1":
        raise checkpoint.CheckpointError(
            f"{path}: weights only (train.checkpoint.weights_only_older dropped its optimizer state); resuming "
            f"from it restarts AdamW's moments at step {record['step']}. Rerun with {RESUME_ENV}=1 to do that, "
            f"or resume from a checkpoint that kept its optimizer (the newest segment end, or the keep_last newest).")
    log.warning("resuming from %s, weights only: the optimizer restarts (AdamW moments at zero) at step %d, "
                "as %s=1 asks", path, record["step"], RESUME_ENV)
