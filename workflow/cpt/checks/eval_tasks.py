"""eval.tasks against lm-eval's registry (task names, metrics), and the eval cadence.

Unknown tasks and metrics a task does not report otherwise surface only after every
eval job has run, each recording "failed".
"""

from __future__ import annotations

import difflib
from pathlib import Path

from cpt.checks import task_index
from cpt.checks.findings import Findings
from cpt.evaluate.run import DEMO_TASKS


def check_cadence(config: dict, findings: Findings) -> None:
    every, keep_every = config["eval"]["every"], config["train"]["checkpoint"]["keep_every"]
    if every % keep_every:
        findings.error("eval.every", every,
                       f"must be a multiple of train.checkpoint.keep_every={keep_every}, or the trainer deletes "
                       f"checkpoints the evaluation needs",
                       f"set eval.every to {keep_every * max(1, every // keep_every)}")
    names = [task["name"] for task in config["eval"]["tasks"]]
    for i, name in enumerate(names):
        if name in names[:i]:
            findings.error(f"eval.tasks[{i}].name", name, "names must be unique: each names a results file",
                           "rename one of them")


def _check_task(i: int, spec: dict, index: dict, version: str, findings: Findings) -> None:
    name, metric = spec["task"], spec["metric"]
    entry = index.get(name)
    if entry is None:
        close = difflib.get_close_matches(name, index, n=3)
        findings.error(f"eval.tasks[{i}].task", name, f"lm-eval {version} knows no task or group of that name",
                       f"did you mean {' or '.join(close)}?" if close
                       else "check the name, or add its YAML dir to eval.include_path")
    elif entry["kind"] == "tag":
        members = entry["members"]
        findings.error(f"eval.tasks[{i}].task", name,
                       "is a tag: lm-eval reports its member tasks one by one, with no result under the tag's name",
                       f"list its members as tasks ({', '.join(members[:4])}{', ...' if len(members) > 4 else ''})")
    elif entry["metrics"] is not None and metric not in entry["metrics"]:
        reported = entry["metrics"] or ["none: the group has no aggregate_metric_list"]
        findings.error(f"eval.tasks[{i}].metric", metric, f"{entry['kind']} {name!r} reports {', '.join(reported)}",
                       "set metric to one of those" if entry["metrics"] else "evaluate its tasks one by one")


def check(config: dict, findings: Findings) -> None:
    check_cadence(config, findings)
    include = config["eval"]["include_path"]
    for i, directory in enumerate(include):
        if not Path(directory).is_dir():
            findings.error(f"eval.include_path[{i}]", directory, "is not a directory", "fix the path or remove it")
    index = task_index.load([DEMO_TASKS, *include])
    for i, spec in enumerate(config["eval"]["tasks"]):
        _check_task(i, spec, index, task_index.lm_eval_version(), findings)
