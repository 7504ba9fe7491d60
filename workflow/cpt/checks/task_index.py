"""lm-eval's task names and their metrics, cached in a small index keyed by lm-eval's version.

Building lm-eval's TaskManager parses ~14,000 task YAMLs (~11 s warm), too slow for a
dry run; the index holds what the checks need (each name's kind and metrics) and is
built once per lm-eval version, without downloading any dataset. The shipped demo
tasks and eval.include_path dirs are indexed apart, keyed by their YAML files' sizes
and times, so editing one rebuilds only that dir's entries.

Entries: {name: {"kind": "task" | "group" | "tag" | "python", "metrics": [...] | None}}, tags
with their "members"; None metrics: a Python-defined task, whose metrics live in code.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import time
from pathlib import Path

from cpt.atomic import atomic_path

log = logging.getLogger("cpt")


def cache_dir() -> Path:
    """$CPT_CACHE_DIR, else $XDG_CACHE_HOME/cpt, else ~/.cache/cpt (shared by the login nodes)."""
    if os.environ.get("CPT_CACHE_DIR"):
        return Path(os.environ["CPT_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cpt"


@functools.cache
def lm_eval_version() -> str:
    return importlib.metadata.version("lm_eval")


def _metrics(entry) -> list[str] | None:
    """What lm-eval reports for an entry: a task's metric_list (or its output type's defaults),
    a group's aggregate metrics; None for Python-defined tasks, whose metrics live in code."""
    from lm_eval.api.registry import DEFAULT_METRIC_REGISTRY
    from lm_eval.tasks._index import Kind

    cfg = entry.cfg or {}
    if entry.kind is Kind.TASK:
        if cfg.get("metric_list"):
            return sorted({str(m["metric"]) for m in cfg["metric_list"] if isinstance(m, dict) and "metric" in m})
        return list(DEFAULT_METRIC_REGISTRY[cfg.get("output_type", "generate_until")])
    if entry.kind is Kind.GROUP:
        aggregate = cfg.get("aggregate_metric_list") or []
        aggregate = aggregate if isinstance(aggregate, list) else [aggregate]
        return sorted({str(m["metric"]) for m in aggregate if isinstance(m, dict) and "metric" in m})
    return None


def _build(include_path: list[str], include_defaults: bool) -> dict:
    """The stored form: names listed under "<kind>:<metrics>" (a few hundred lists of names parse
    in ~30 ms; one dict per name took 3x that), and each tag's members."""
    from lm_eval.tasks import TaskManager
    from lm_eval.tasks._index import Kind

    kinds = {Kind.TASK: "task", Kind.GROUP: "group", Kind.PY_TASK: "python"}
    grouped: dict[str, list[str]] = {}
    tags = {}
    manager = TaskManager(include_path=include_path or None, include_defaults=include_defaults)
    for name, entry in manager.task_index.items():
        if entry.kind is Kind.TAG:
            tags[name] = sorted(entry.tags)
            continue
        metrics = _metrics(entry)
        label = f"{kinds.get(entry.kind, 'unknown')}:{'?' if metrics is None else ','.join(metrics)}"
        grouped.setdefault(label, []).append(name)
    return {"grouped": grouped, "tags": tags}


def _entries(stored: dict) -> dict[str, dict]:
    """name -> {"kind", "metrics"} (and a tag's "members") from the stored form."""
    entries = {}
    for label, names in stored["grouped"].items():
        kind, metrics = label.split(":", 1)
        entry = {"kind": kind, "metrics": None if metrics == "?" else [m for m in metrics.split(",") if m]}
        entries.update(dict.fromkeys(names, entry))
    entries.update({tag: {"kind": "tag", "metrics": None, "members": members}
                    for tag, members in stored["tags"].items()})
    return entries


def _cached(path: Path, key: dict, build) -> dict:
    """The index stored at `path` under `key`, rebuilt (atomically) when the key differs."""
    try:
        stored = json.loads(path.read_text())
        if stored.get("key") == key:
            return _entries(stored["index"])
    except (OSError, ValueError, KeyError):  # absent, unreadable or from an older layout: rebuild
        pass
    start = time.monotonic()
    index = build()
    try:
        with atomic_path(path) as tmp:  # compact: ~1 MB for lm-eval's ~14,700 names
            tmp.write_text(json.dumps({"key": key, "index": index}, separators=(",", ":")))
    except OSError as err:
        log.warning("cannot cache the lm-eval task index at %s (%s); set CPT_CACHE_DIR to a writable dir", path, err)
    entries = _entries(index)
    log.info("lm-eval task index (%d names) built in %.1f s: %s", len(entries), time.monotonic() - start, path)
    return entries


def _yaml_signature(directory: Path) -> list:
    return sorted([str(p.relative_to(directory)), p.stat().st_size, p.stat().st_mtime_ns]
                  for p in directory.glob("**/*.yaml"))


def load(include_path: list[str | Path]) -> dict[str, dict]:
    """Every task, group and tag lm-eval resolves with these include dirs (later dirs win, as in lm-eval)."""
    version = lm_eval_version()
    root = cache_dir()
    tasks = _cached(root / f"lm-eval-{version}-tasks.json", {"lm_eval": version},
                    lambda: _build([], include_defaults=True))
    for directory in map(Path, include_path):
        if not directory.is_dir():
            continue
        resolved = str(directory.resolve())
        name = hashlib.sha256(resolved.encode()).hexdigest()[:16]
        extra = _cached(root / f"lm-eval-{version}-include-{name}.json",
                        {"lm_eval": version, "dir": resolved, "yaml": _yaml_signature(directory)},
                        lambda resolved=resolved: _build([resolved], include_defaults=False))
        tasks = {**tasks, **extra}
    return tasks
