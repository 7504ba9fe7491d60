"""Helpers of the report tests: fixture results in the layout the eval stage writes."""

import json
from pathlib import Path

from cpt.rundir.paths import RunDir


def write_result(run_dir: Path, step: int, name: str, value: float, stderr: float | None,
                 metric: str = "acc") -> Path:
    path = RunDir(run_dir).result(step, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"status": "ok", "step": step, "name": name, "task": name.lower(),
                                "metric": metric, "num_fewshot": 0, "limit": None, "value": value,
                                "stderr": stderr, "task_version": 1.0, "lm_eval_version": "0.4.13",
                                "samples": {"original": 100, "effective": 100}}))
    return path
