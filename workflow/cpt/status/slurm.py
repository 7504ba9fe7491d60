"""The run's jobs in Slurm's queue, by rule, from one `squeue` call (which may not answer).

Snakemake's jobs carry `rule_<rule>[_wildcards_<values>]` in their comment (the executor
plugin's convention); the training chain's own jobs are named `cpt-train-<run>`
(cpt.chain) and read here as rule `train_chain`."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

COMMENT = re.compile(r"^rule_(?P<rule>[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*?)(?:_wildcards_(?P<wildcards>.*))?$")
FIELDS = "%i|%j|%k|%D|%M|%T|%r"
CHAIN = "train_chain"


@dataclass(frozen=True)
class Job:
    job_id: str
    rule: str
    wildcards: str
    nodes: int
    elapsed: str
    state: str
    reason: str


def parse_squeue(text: str, run: str) -> list[Job]:
    """Jobs of squeue's FIELDS output that belong to `run`'s chain or to Snakemake (others are not ours)."""
    jobs = []
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 7:
            continue
        job_id, name, comment, nodes, elapsed, state, reason = parts
        if name == f"cpt-train-{run}":
            rule, wildcards = CHAIN, ""
        elif match := COMMENT.match(comment):
            rule, wildcards = match["rule"], match["wildcards"] or ""
        else:
            continue
        jobs.append(Job(job_id=job_id, rule=rule, wildcards=wildcards, nodes=int(nodes) if nodes.isdigit() else 0,
                        elapsed=elapsed, state=state, reason=reason))
    return jobs


def queued_jobs(run: str, timeout_s: float = 15.0) -> tuple[list[Job] | None, str]:
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
    return parse_squeue(done.stdout, run), "squeue"
