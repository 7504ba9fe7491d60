"""The seed's learning-rate schedule: linear warmup to the peak, linear decay to 0.

A pure function of the step, so a checkpoint's step is the scheduler's state.
"""

from __future__ import annotations


def lr_at(step: int, *, peak: float, warmup_steps: int, decay_end_step: int) -> float:
    """LR for optimizer step `step` (1-based): peak at warmup_steps, 0 at decay_end_step and after."""
    if step <= warmup_steps:
        return peak * step / warmup_steps
    if step >= decay_end_step:
        return 0.0
    return peak * (decay_end_step - step) / (decay_end_step - warmup_steps)
