"""Where a run stands, read from its files and Slurm's queue without touching either.

`python -m cpt.status [configs...]` (or `snakemake status`) works before the first
segment, mid-run, after the end, and while the controller is down: everything it
shows comes from the run directory (checkpoint markers, metrics.jsonl, eval
results) and one `squeue` call; what it cannot read it names and skips.
"""
