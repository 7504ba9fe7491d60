"""Bytes on disk per kind of output, beside the planner's figure for the same kind."""

from __future__ import annotations

import os
from pathlib import Path

from cpt.rundir.paths import RunDir


def tree_bytes(path: Path) -> int:
    """Apparent size of every file under `path` (0 when it does not exist); no symlinks followed."""
    total, stack = 0, [path]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
    return total


def output_kinds(config: dict, run_dir: Path) -> dict[str, list[Path]]:
    """Where each kind of output lives (the planner's storage table uses the same kinds)."""
    raw = sorted({Path(source["local_dir"]) for source in config["data"]["sources"].values()})
    run = RunDir(run_dir)
    return {"raw": raw, "tokenized": [run.tokenized_dir], "mixed": [run.mixed_dir], "checkpoints": [run.checkpoints],
            "exports": [run.exports]}


def disk_usage(config: dict, run_dir: Path) -> dict[str, int]:
    return {kind: sum(tree_bytes(p) for p in paths) for kind, paths in output_kinds(config, run_dir).items()}
