"""Which steps are evaluated, and which model dir stands for each of them."""

from __future__ import annotations

from pathlib import Path

from cpt.rundir.paths import RunDir


def evaluated_steps(every: int, final: int) -> list[int]:
    """Step 0 (the base model), every `every` steps, and the final step."""
    if every < 1 or final < 0:
        raise ValueError(f"eval.every must be >= 1 and train.steps >= 0 (got {every}, {final})")
    return sorted({0, final, *range(every, final + 1, every)})


def covering_segment_end(step: int, steps_per_segment: int, final: int) -> int:
    """The step whose training segment writes `step`'s checkpoint (a segment may save several)."""
    return min(-(-step // steps_per_segment) * steps_per_segment, final)


def model_dir(step: int, base_dir: str | Path, run: RunDir) -> Path:
    """Step 0 is the base model dir as is; later steps are exported checkpoints."""
    return Path(base_dir) if step == 0 else run.export(step)
