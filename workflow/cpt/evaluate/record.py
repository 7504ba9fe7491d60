"""Turn lm-eval's results dict into the one-task record the report reads."""

from __future__ import annotations

import math


class MetricMissing(LookupError):
    """The configured metric is not among what the task reported."""


def _number(value) -> float | None:
    """lm-eval writes 'N/A' for a stderr it did not compute; keep only real numbers."""
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def _shots(n_shot: dict, task: str) -> int | None:
    """Shots lm-eval applied: the task's own entry, or its subtasks' common value."""
    if task in n_shot:
        return n_shot[task]
    values = set(n_shot.values())
    return values.pop() if len(values) == 1 else None


def task_record(results: dict, task: str, metric: str, filter_name: str = "none") -> dict:
    """Value, stderr, version, shots and sample counts of `task` (a task or a group).

    A group (mmlu) has its aggregate under its own name and sample counts only
    under its subtasks; every n-samples entry belongs to this one run, so their
    sum is the group's count.
    """
    scores = results["results"].get(task)
    if scores is None:
        raise MetricMissing(f"lm-eval returned no results for task {task!r} "
                            f"(got {sorted(results['results'])})")
    key = f"{metric},{filter_name}"
    if key not in scores:
        reported = sorted(k.split(",")[0] for k in scores if "," in k and "_stderr" not in k)
        raise MetricMissing(f"task {task!r} reports no metric {metric!r} (it reports {reported}); "
                            "fix eval.tasks[].metric in the config")
    counts = results.get("n-samples", {}).values()
    return {
        "value": float(scores[key]),
        "stderr": _number(scores.get(f"{metric}_stderr,{filter_name}")),
        "task_version": results.get("versions", {}).get(task),
        "num_fewshot": _shots(results.get("n-shot", {}), task),
        "samples": {"original": sum(c["original"] for c in counts),
                    "effective": sum(c["effective"] for c in counts)},
        "subtasks": len(counts),
    }
