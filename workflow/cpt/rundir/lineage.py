"""Which checkpoints belong to a run: its history of training settings and each checkpoint's ancestry.

`<train>/run.json` is the run's history: one entry per settings regime, each
with the training digest (cpt.digest) and keys that hold from its `from_step`
on. The first entry starts at step 0; `train.continue_from` appends one (a
result-changing edit continued on purpose from a named step). Each checkpoint's
`complete.json` records the digest it was trained with, its parent (the
checkpoint its job resumed from) and its lineage (every resume point back to
step 0, with their digests), so validity survives retention deleting parents.

A checkpoint is valid when it and every step of its lineage carry the digest
the history assigns to that step; resume takes the newest valid one, never
just the newest dir. Torch-free: the Snakefile reads this at parse time.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from cpt.atomic import write_json
from cpt.digest import same_training, training_digest, training_keys
from cpt.rundir.paths import HISTORY, MARKER, STEP_DIR, step_dir
from cpt.settings import ConfigError

log = logging.getLogger("cpt")
RESUME_WEIGHTS_ONLY_ENV = "CPT_RESUME_WEIGHTS_ONLY"   # consent to restart AdamW at a weights-only step


def marker(path: str | Path) -> dict | None:
    """The completion record of a checkpoint dir, or None while it is incomplete."""
    try:
        return json.loads((Path(path) / MARKER).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def complete_steps(root: str | Path) -> list[int]:
    root = Path(root)
    if not root.is_dir():
        return []
    steps = [int(m.group(1)) for d in root.iterdir() if (m := STEP_DIR.match(d.name))]
    return sorted(s for s in steps if marker(step_dir(root, s)) is not None)


def read_history(train_dir: str | Path) -> list[dict]:
    """The run's settings history (empty before its first training job)."""
    path = Path(train_dir) / HISTORY
    if not path.exists():
        return []
    try:
        history = json.loads(path.read_text())["history"]
        assert history and all("from_step" in e and "training_digest" in e for e in history)
        return history
    except (json.JSONDecodeError, KeyError, TypeError, AssertionError):
        raise ConfigError(f"{path}: not a run history written by cpt (expected {{\"history\": [{{\"from_step\", "
                          f"\"training_digest\", ...}}]}}); restore it from a backup, or move the train dir "
                          f"away and start a new run name") from None


def digest_at(history: list[dict], step: int) -> str | None:
    """The training digest that governs step `step` (steps after an entry's from_step belong to it)."""
    governing = [e for e in history if e["from_step"] < step] or history[:1]
    return governing[-1]["training_digest"] if governing else None


def invalid_reason(record: dict, history: list[dict]) -> str | None:
    """Why a checkpoint's record does not belong to this run's history, or None if it does."""
    if record["step"] == 0 or not history:
        return None  # step 0 is the imported base model
    if "training_digest" not in record:
        if len(history) == 1:
            return None  # written before checkpoints carried digests, by a run that never changed settings
        return "it predates digests in complete.json and the run's settings changed since"
    own = {"step": record["step"], "training_digest": record["training_digest"]}
    for ancestor in [*record.get("lineage", []), own]:
        expected = digest_at(history, ancestor["step"])
        if ancestor["step"] > 0 and ancestor["training_digest"] != expected:
            return (f"step {ancestor['step']} of its lineage was trained with settings {ancestor['training_digest']}, "
                    f"the run's history ({HISTORY}) expects {expected}")
    return None


def valid_record(root: str | Path, step: int, history: list[dict]) -> dict | None:
    """The marker of step `step` if it is complete and belongs to the run's history."""
    record = marker(step_dir(root, step))
    if record is None or invalid_reason(record, history):
        return None
    return record


def resume_point(root: str | Path, history: list[dict], at_most: int) -> Path | None:
    """The newest valid checkpoint at or before `at_most`; stale ones (another settings regime) are skipped."""
    for step in reversed(complete_steps(root)):
        if step > at_most:
            continue
        reason = invalid_reason(marker(step_dir(root, step)), history)
        if reason is None:
            return step_dir(root, step)
        log.info("skipping %s as a resume point: %s", step_dir(root, step), reason)
    return None


def child_record(parent: dict, digests: dict) -> dict:
    """The lineage fields of a checkpoint trained from `parent` under `digests` (training, config)."""
    lineage = [*parent.get("lineage", []),
               {"step": parent["step"], "training_digest": parent.get("training_digest")}]
    return {"parent": parent["step"], "lineage": lineage,
            "training_digest": digests["training"], "config_digest": digests["config"]}


def changed_keys(old: dict, new: dict) -> list[str]:
    return sorted(k for k in {*old, *new} if old.get(k) != new.get(k))


def trained_steps(train_dir: str | Path) -> list[int]:
    return [s for s in complete_steps(Path(train_dir) / "checkpoints") if s > 0]


def check_config(config: dict, train_dir: str | Path) -> None:
    """Refuse (at parse time, so at dry run) a result-changing edit on a run that has trained
    steps, unless `train.continue_from` names the step to continue from with the new settings."""
    history = read_history(train_dir)
    if not history or history[-1]["training_digest"] == training_digest(config):
        return
    trained = trained_steps(train_dir)
    if not trained or same_training(history[-1]["training_keys"], config):
        return   # nothing trained yet, or the same settings under an upgraded digest (next_history)
    changes = _describe(history[-1]["training_keys"], training_keys(config))
    continue_from = config["train"].get("continue_from")
    if continue_from is None:
        raise ConfigError(
            f"{Path(train_dir) / HISTORY}: run {config['run']!r} has checkpoints up to step {trained[-1]} trained "
            f"with other settings; these keys change what training computes: {changes}. Training it again from "
            f"step 0 would throw those steps away, so nothing runs. Choose one:\n"
            f"  - a new run: set `run:` to a new name (results/<new name>/ starts from the base model), or\n"
            f"  - continue this run with the new settings from a kept step: set `train.continue_from: <step>` "
            f"(kept steps: {trained}); it is recorded in {HISTORY}, steps after it are trained again, or\n"
            f"  - undo the edit.")
    _check_continue_point(train_dir, history, continue_from)


def _describe(old: dict, new: dict) -> str:
    return "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed_keys(old, new))


def _check_continue_point(train_dir, history, step: int, environ=os.environ) -> None:
    """The named step must be a valid checkpoint; a weights-only one (retention dropped its optimizer)
    restarts AdamW there, so it is refused here, at dry run, unless that is asked for."""
    root = Path(train_dir) / "checkpoints"
    record = valid_record(root, step, history)
    if record is not None and (step == 0 or record.get("has_optimizer", True)
                               or environ.get(RESUME_WEIGHTS_ONLY_ENV) == "1"):
        return
    valid = {s: r for s in complete_steps(root) if (r := valid_record(root, s, history))}   # only to name them
    if record is None:
        raise ConfigError(f"train.continue_from: {step} is not a kept, valid checkpoint of this run under {root} "
                          f"(valid: {list(valid)}); pick one of those")
    with_optimizer = [s for s, r in valid.items() if r.get("has_optimizer", True)]
    raise ConfigError(
        f"train.continue_from: {step} is weights only ({step_dir(root, step)}: "
        f"train.checkpoint.weights_only_older dropped its optimizer state), so continuing from it restarts "
        f"AdamW's moments at step {step}. Continue from a step that kept its optimizer ({with_optimizer}), "
        f"or run with {RESUME_WEIGHTS_ONLY_ENV}=1 to restart the optimizer there on purpose.")


def next_history(config: dict, train_dir: str | Path) -> list[dict]:
    """The run's history once this config trains (check_config must have passed): unchanged, the
    first entry, or one more entry from train.continue_from (later entries dropped). A pipeline
    upgrade that redefines the digest of unchanged settings adds an entry from the newest trained
    step: the steps trained so far keep their digest, later ones get the new one."""
    history = read_history(train_dir)
    digest, keys = training_digest(config), training_keys(config)
    if history and history[-1]["training_digest"] == digest:
        return history
    entry = {"from_step": 0, "training_digest": digest, "training_keys": keys, "recorded": time.time()}
    if not (history and trained_steps(train_dir)):
        return [entry]
    if same_training(history[-1]["training_keys"], config):
        start = trained_steps(train_dir)[-1]
        entry = {**entry, "from_step": start, "changed": [], "redefined": True}
    else:
        start = config["train"]["continue_from"]
        entry = {**entry, "from_step": start, "changed": changed_keys(history[-1]["training_keys"], keys)}
    return [e for e in history if e["from_step"] < start] + [entry]


def record_settings(config: dict, train_dir: str | Path) -> list[dict]:
    """Bring run.json up to this config and return the history. Called under the writer lock."""
    check_config(config, train_dir)
    history = next_history(config, train_dir)
    if history != read_history(train_dir):
        if len(history) > 1:
            entry = history[-1]
            log.info("run history: from step %d on, %s", entry["from_step"],
                     "the same settings under a redefined training digest (pipeline upgrade)"
                     if entry.get("redefined") else f"new settings ({', '.join(entry['changed'])})")
        write_json(Path(train_dir) / HISTORY, {"history": history})
    return history
