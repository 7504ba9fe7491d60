"""Dry run of the full-scale DAG: `snakemake -n --profile profiles/frontier` (every tokenize
job, mixed shard, training segment and eval) timed against the same DAG without the profile,
with the job count per rule. The profile's job groups cost extra DAG checks in Snakemake.

    python benchmarks/dry_run.py [targets ...]      (default: data train evaluate report)
"""

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINKED = ("Snakefile", "workflow", "config.yaml", "configs", "envs", "profiles")


def dry_run(work: Path, targets: list[str], *args: str) -> tuple[float, dict[str, int]]:
    """Seconds of one `snakemake -n` and its job counts per rule."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", *args, "--", *targets],
                            cwd=work, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"snakemake -n {' '.join(args)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    table = result.stdout.split("Job stats:")[1]
    counts = {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}
    return seconds, counts


def main() -> None:
    targets = sys.argv[1:] or ["data", "train", "evaluate", "report"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for item in LINKED:
            (work / item).symlink_to(ROOT / item)
        plain_s, counts = dry_run(work, targets)
        frontier_s, frontier_counts = dry_run(work, targets, "--profile", "profiles/frontier")
    assert counts == frontier_counts, (counts, frontier_counts)
    print(f"dry run of {' '.join(targets)} on config.yaml: {counts['total']:,} jobs")
    for rule, n in counts.items():
        if rule != "total":
            print(f"  {rule:<16} {n:6,}")
    print(f"snakemake -n                            {plain_s:6.1f} s  ({1000 * plain_s / counts['total']:.1f} ms/job)")
    print(f"snakemake -n --profile profiles/frontier {frontier_s:6.1f} s  ({frontier_s / plain_s:.1f}x: job groups)")


if __name__ == "__main__":
    main()
