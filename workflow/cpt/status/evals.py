"""Evaluations done, failed and missing per evaluated step."""

from __future__ import annotations

import json
from pathlib import Path

from cpt.evaluate.steps import evaluated_steps
from cpt.rundir.paths import RunDir


def eval_state(config: dict, run_dir: Path) -> dict[int, dict[str, list[str]]]:
    """{step: {"done": [...], "failed": [...], "missing": [...]}} over eval.tasks' names."""
    names = [task["name"] for task in config["eval"]["tasks"]]
    state = {}
    for step in evaluated_steps(config["eval"]["every"], config["train"]["steps"]):
        row = {"done": [], "failed": [], "missing": []}
        for name in names:
            path = RunDir(run_dir).result(step, name)
            if not path.exists():
                row["missing"].append(name)
                continue
            try:
                failed = json.loads(path.read_text()).get("status") == "failed"
            except (OSError, json.JSONDecodeError):
                failed = True
            row["failed" if failed else "done"].append(name)
        state[step] = row
    return state
