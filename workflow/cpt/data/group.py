"""A group of data shards in one whole-node job: one worker process per core, all at once.

Frontier allocates and charges whole nodes (56 usable cores), so a one-core tokenize or mix
job wastes 55 of them. Snakemake job groups do not fill the node: snakemake-executor-plugin-slurm
(2.8.0) runs a group's members one after another (its inner Snakemake gets `--jobs 1`; plugin
issue #469). So the rule itself takes a group of shards and this runner starts one process per
shard, at most `--workers` at a time (the job's cores), each with its own log and its pools
capped to its one core as before (cpt.data.threads). A failed shard does not stop the others;
the job then fails, naming it. The record (the rule's output) lists each shard's start, end and
exit code: it shows that the group's shards ran at once.

    python -m cpt.data.group --workers 56 --first 112 --count 56 --log 'logs/tokenize/dclm/{shard:05d}.log' \
        --record tokenized/dclm/group-002.json -- python -m cpt.data.tokenize ... --shard {shard} ...
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cpt.atomic import write_json

log = logging.getLogger("cpt")


def groups(shards: int, size: int) -> list[range]:
    """Shard indices of each group: consecutive runs of `size`, the last one shorter."""
    return [range(first, min(first + size, shards)) for first in range(0, shards, size)]


# What Snakemake sets to the rule's threads (the whole node): each shard process gets one core's worth,
# so numpy's OpenBLAS does not start 56 threads in each of 56 processes (the pools Snakemake does not
# know are capped inside the process: cpt.data.threads).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
FIELD = re.compile(r"\{shard(?::([^}]*))?\}")


def fill(text: str, shard: int) -> str:
    """`text` with each `{shard}` / `{shard:05d}` field filled in; other braces (a JSON spec) are kept."""
    return FIELD.sub(lambda m: format(shard, m.group(1) or ""), text)


def run_shard(argv: list[str], log_path: Path) -> dict:
    """One shard's process, its output to its own log; its wall-clock start, end and exit code."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    with open(log_path, "wb") as out:
        env = {**os.environ, **dict.fromkeys(THREAD_VARIABLES, "1")}
        code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
    return {"log": str(log_path), "started": started, "finished": time.time(), "exit": code}


def run_group(command: list[str], shards: range, log_pattern: str, workers: int) -> list[dict]:
    """`command` (its `{shard}` fields filled in) once per shard, at most `workers` at once."""
    def one(shard: int) -> dict:
        argv = [fill(part, shard) for part in command]
        result = {"shard": shard, **run_shard(argv, Path(fill(log_pattern, shard)))}
        log.info("shard %d: exit %d after %.0f s (log %s)", shard, result["exit"],
                 result["finished"] - result["started"], result["log"])
        return result

    log.info("%d shards on %d workers", len(shards), workers)
    with ThreadPoolExecutor(max(1, workers)) as pool:   # threads only wait on their processes
        return list(pool.map(one, shards))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cpt.data.group", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, required=True, help="processes at once: the job's cores")
    parser.add_argument("--first", type=int, required=True, help="the group's first shard index")
    parser.add_argument("--count", type=int, required=True, help="shards in the group")
    parser.add_argument("--log", required=True, help="each shard's log, with a {shard} field")
    parser.add_argument("--record", required=True, help="JSON written once every shard succeeded")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="after --: one shard's command, with {shard} fields")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    start = time.time()
    results = run_group(command, range(args.first, args.first + args.count), args.log, args.workers)
    failed = [r for r in results if r["exit"]]
    if failed:
        log.error("%d of %d shards failed: %s; read their logs, fix, and rerun (the group reruns whole)", len(failed),
                  len(results), ", ".join(f"shard {r['shard']} (exit {r['exit']}, {r['log']})" for r in failed))
        return 1
    write_json(args.record, {"workers": args.workers, "shards": results, "seconds": round(time.time() - start, 3)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
