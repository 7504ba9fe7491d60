"""What the chain has reached: the newest valid checkpoint, and when a local writer counts as gone."""

from __future__ import annotations

from cpt.rundir import lineage
from cpt.rundir.paths import RunDir


def newest_valid(run: RunDir, history: list[dict]) -> int:
    """The newest checkpoint step of the run's lineage (-1: none yet)."""
    point = lineage.resume_point(run.checkpoints, history, at_most=10**12)
    return int(point.name.split("-")[1]) if point else -1


def stale_seconds(config: dict) -> float:
    """A local trainer's heartbeat older than this no longer holds the run."""
    return config["train"]["chain"]["stale_minutes"] * 60
