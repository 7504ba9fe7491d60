"""Which steps are evaluated, and which model dir stands for each of them."""

from __future__ import annotations

from pathlib import Path

# cpt.train.checkpoint.MARKER, repeated here because importing the trainer pulls
# in torch while Snakemake builds the DAG; a test keeps the two equal.
CHECKPOINT_MARKER = "complete.json"


def evaluated_steps(every: int, final: int) -> list[int]:
    """Step 0 (the base model), every `every` steps, and the final step."""
    if every < 1 or final < 0:
        raise ValueError(f"eval.every must be >= 1 and train.steps >= 0 (got {every}, {final})")
    return sorted({0, final, *range(every, final + 1, every)})


def check_cadence(every: int, keep_every: int) -> None:
    """Every evaluated step needs a checkpoint the trainer keeps, or its export has no input."""
    if every % keep_every:
        raise ValueError(
            f"config: eval.every ({every}) is not a multiple of train.checkpoint.keep_every "
            f"({keep_every}); the trainer would delete checkpoints the evaluation needs. "
            "Set eval.every to a multiple of keep_every.")


def covering_segment_end(step: int, steps_per_segment: int, final: int) -> int:
    """The step whose training segment writes `step`'s checkpoint (a segment may save several)."""
    return min(-(-step // steps_per_segment) * steps_per_segment, final)


def step_name(step: int) -> str:
    """Directory name of a step, as the trainer names its checkpoints (sorts as text)."""
    return f"step-{step:08d}"


def model_dir(step: int, base_dir: str | Path, run_dir: str | Path) -> Path:
    """Step 0 is the base model dir as is; later steps are exported checkpoints."""
    if step == 0:
        return Path(base_dir)
    return Path(run_dir) / "eval" / "models" / step_name(step)


def result_path(run_dir: str | Path, step: int, task_name: str) -> Path:
    """One results JSON per (step, task): a new task or step adds files, never rewrites others."""
    return Path(run_dir) / "eval" / "results" / step_name(step) / f"{task_name}.json"
