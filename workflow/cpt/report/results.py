"""Read the per-(step, task) results JSONs; a missing or broken one becomes a marked cell."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cpt.rundir.paths import RunDir

OK, MISSING, CORRUPT, FAILED = "ok", "missing", "corrupt", "failed"


@dataclass(frozen=True)
class Cell:
    """One (step, task) result, or why there is none."""
    status: str
    path: Path
    value: float | None = None
    stderr: float | None = None
    reason: str = ""
    record: dict | None = None


def read_cell(path: Path, metric: str) -> Cell:
    """Never raises: the report must show every other result even if this one is bad."""
    if not path.is_file():
        return Cell(MISSING, path, reason="no results file (eval job not run or killed)")
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return Cell(CORRUPT, path, reason=f"unreadable JSON: {err}")
    if not isinstance(record, dict):
        return Cell(CORRUPT, path, reason="not a JSON object")
    if record.get("status") == FAILED:
        return Cell(FAILED, path, reason=str(record.get("error", "no error recorded")), record=record)
    if record.get("metric") != metric:
        return Cell(CORRUPT, path, reason=f"metric is {record.get('metric')!r}, the config asks for "
                    f"{metric!r}: rerun this eval job", record=record)
    value, stderr = record.get("value"), record.get("stderr")
    if not isinstance(value, (int, float)) or not (stderr is None or isinstance(stderr, (int, float))):
        return Cell(CORRUPT, path, reason="no numeric 'value'/'stderr'", record=record)
    return Cell(OK, path, float(value), None if stderr is None else float(stderr), record=record)


def collect(run_dir: str | Path, steps: list[int], tasks: dict[str, str]) -> dict[tuple[int, str], Cell]:
    """Cells for every evaluated step x configured task ({name: metric}), in config order."""
    return {(step, name): read_cell(RunDir(Path(run_dir)).result(step, name), metric)
            for step in steps for name, metric in tasks.items()}


def finished(results_dir: str | Path) -> list[dict]:
    """Every finished (status ok) record under results_dir/step-*/, by step; the live views and
    model cards read these while evals still run, so an unreadable file is left out, not raised."""
    records = []
    for path in sorted(Path(results_dir).glob("step-*/*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(record, dict) and record.get("status") == OK and isinstance(record.get("value"), (int, float)):
            records.append(record)
    return records
