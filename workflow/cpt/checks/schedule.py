"""The learning-rate schedule against train.steps: steps past the decay end train at rate 0."""

from __future__ import annotations

from cpt.checks.findings import Findings


def check(config: dict, findings: Findings) -> None:
    train = config["train"]
    steps, warmup, decay_end = train["steps"], train["schedule"]["warmup_steps"], train["schedule"]["decay_end_step"]
    if warmup > decay_end:
        findings.error("train.schedule.warmup_steps", warmup,
                       f"warmup must end by train.schedule.decay_end_step={decay_end}, else the rate never decays",
                       f"set warmup_steps below {decay_end} (the reference warms up for 0.1% of the run)")
    if steps > decay_end:
        findings.error("train.steps", steps,
                       f"steps after train.schedule.decay_end_step={decay_end} train at learning rate 0 "
                       f"({steps - decay_end:,} wasted steps)",
                       f"set train.schedule.decay_end_step: {steps} (or lower train.steps to {decay_end})")
    elif decay_end > steps:
        fraction = 1 - (steps - warmup) / (decay_end - warmup) if steps > warmup else 1
        findings.warn("train.schedule.decay_end_step", decay_end,
                      f"the run stops at step {steps:,}, with the rate still at {fraction:.0%} of its peak",
                      f"set it to train.steps ({steps}) unless a later run continues this schedule")
    if warmup >= steps:
        findings.warn("train.schedule.warmup_steps", warmup, f"the whole run (train.steps={steps}) is warmup",
                      "lower warmup_steps")
