"""Fetch the evaluation tasks' datasets into the HF cache, on the login node.

Compute nodes have no internet, so the eval jobs run offline and read the cache
this fills. Loading a task through lm-eval's TaskManager downloads exactly what
that task later reads (same dataset ids, configs and kwargs), so the prefetch
asks lm-eval rather than keeping its own list of hub ids.

    python -m cpt.evaluate.prefetch --task mmlu --task arc_challenge --out prefetch.json
"""

from __future__ import annotations

import argparse
import datetime
import difflib
import logging
import sys

from cpt.atomic import write_json
from cpt.evaluate.run import task_manager
from cpt.progress import bars_as_log_lines

log = logging.getLogger("cpt.evaluate")


def leaf_tasks(index: dict, name: str) -> list[str]:
    """The individual tasks a name stands for: itself, or a group's/tag's members, recursively."""
    from lm_eval.tasks._index import Kind

    entry = index.get(name)
    if entry is None:
        close = difflib.get_close_matches(name, index, n=3)
        raise LookupError(f"lm-eval knows no task, group or tag {name!r} (close: {close}); "
                       "fix eval.tasks[].task in the config")
    if entry.kind is Kind.TAG:
        members = sorted(entry.tags)
    elif entry.kind is Kind.GROUP:
        members = [m["task"] if isinstance(m, dict) else m for m in entry.cfg["task"]]
    else:
        return [name]
    return sorted({leaf for member in members for leaf in leaf_tasks(index, member)})


def datasets_of(index: dict, name: str) -> list[dict]:
    """Offline: which hub datasets (path, config) the task reads; shipped tasks have none."""
    found = []
    for leaf in leaf_tasks(index, name):
        cfg = index[leaf].cfg or {}
        found.append({"task": leaf, "dataset_path": cfg.get("dataset_path"),
                      "dataset_name": cfg.get("dataset_name"),
                      "shipped": "custom_dataset" in cfg})
    return found


def prefetch(names: list[str], include_path: list[str] = ()) -> dict:
    """Build every task once (this downloads its data) and describe what was fetched."""
    import datasets

    manager = task_manager(include_path)
    plan = {name: datasets_of(manager.task_index, name) for name in names}
    for name in names:
        log.info("fetching %s (%d datasets)", name, len(plan[name]))
        manager.load([name])
    return {"tasks": plan, "hf_datasets_cache": str(datasets.config.HF_DATASETS_CACHE),
            "fetched_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", action="append", required=True, help="lm-eval task name (repeat)")
    parser.add_argument("--include-path", action="append", default=[],
                        help="extra dir of lm-eval task YAMLs (repeat; eval.include_path)")
    parser.add_argument("--out", required=True, help="JSON describing what was fetched")
    args = parser.parse_args(argv)
    write_json(args.out, prefetch(args.task, args.include_path))
    return 0


if __name__ == "__main__":
    bars_as_log_lines()  # lm-eval, transformers and datasets draw tqdm bars into the job log
    sys.exit(main())
