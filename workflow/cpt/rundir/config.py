"""The effective config as the controller last parsed it, for jobs to read at run time.

Some settings must reach a job without rerunning it when they change: the chain's
operational keys (retries, polling, the Slurm request of later jobs), the hub settings
and model-card facts of a publish. Snakemake reruns a job whose params change, so these
travel in this file instead, written by the controller (atomically, only when its
content changes) and named by a constant path param.
"""

from __future__ import annotations

import json
from pathlib import Path

from cpt.atomic import write_text


def write_config(path: str | Path, config: dict) -> None:
    """Record `config` at `path` unless the file already holds it."""
    path, text = Path(path), json.dumps(config, indent=1, sort_keys=True) + "\n"
    if not path.exists() or path.read_text() != text:
        write_text(path, text)


def read_config(path: str | Path) -> dict:
    """The recorded config; a missing file names the fix (the controller writes it when it starts)."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: the controller's config record is missing; run snakemake (not -n) "
                                f"once from the workflow directory to write it") from None
