"""Read back TensorBoard's event files with TensorBoard's own EventAccumulator."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tensorboard_scalars(log_dir: Path) -> dict[str, dict[int, float]]:
    """tag -> {x: value}, with TensorBoard's purge of events a restarted run superseded."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    acc.Reload()
    out = {}
    for tag in acc.Tags()["scalars"]:
        steps = [e.step for e in acc.Scalars(tag)]
        assert steps == sorted(set(steps)), f"{tag}: duplicate or out-of-order steps {steps}"
        out[tag] = {e.step: e.value for e in acc.Scalars(tag)}
    return out


def float32(value: float) -> float:
    """TensorBoard stores scalars as float32."""
    return float(np.float32(value))
