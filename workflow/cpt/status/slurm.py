"""The run's jobs in Slurm's queue, by rule, from one `squeue` call (which may not answer)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

# The executor plugin puts `rule_<rule>[_wildcards_<values>]` in each job's comment.
COMMENT = re.compile(r"^rule_(?P<rule>[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*?)(?:_wildcards_(?P<wildcards>.*))?$")
FIELDS = "%i|%k|%D|%M|%T|%r"


@dataclass(frozen=True)
class Job:
    job_id: str
    rule: str
    wildcards: str
    nodes: int
    elapsed: str
    state: str
    reason: str


def parse_squeue(text: str) -> list[Job]:
    """Jobs of squeue's FIELDS output that Snakemake submitted (others are not ours)."""
    jobs = []
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 6 or not (match := COMMENT.match(parts[1])):
            continue
        jobs.append(Job(job_id=parts[0], rule=match["rule"], wildcards=match["wildcards"] or "",
                        nodes=int(parts[2]) if parts[2].isdigit() else 0, elapsed=parts[3],
                        state=parts[4], reason=parts[5]))
    return jobs


def queued_jobs(timeout_s: float = 15.0) -> tuple[list[Job] | None, str]:
    """(jobs, note): None with the reason when there is no Slurm here or it does not answer."""
    try:
        done = subprocess.run(["squeue", "--me", "--noheader", "--format", FIELDS],
                              capture_output=True, text=True, timeout=timeout_s)
    except FileNotFoundError:
        return None, "no squeue on PATH (not a Slurm machine): running jobs unknown"
    except subprocess.TimeoutExpired:
        return None, f"squeue did not answer within {timeout_s:g} s: running jobs unknown"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1][:160]
        return None, f"squeue failed (exit {done.returncode}: {last}): running jobs unknown"
    return parse_squeue(done.stdout), "squeue"
