"""Helpers of the Slurm tests: fake Slurm clients and the files a submission leaves."""

import json
from pathlib import Path

FULL_RUN = "results/llama31-8b-cpt"

# sbatch records its arguments, one per line, then refuses the job: the test reads what
# the real plugin would have submitted, without a cluster and without waiting on one.
FAKES = {
    # named by time and pid: the plugin may submit from several threads at once, and a
    # count of files taken before writing gave two calls the same name (one was lost)
    "sbatch": 'printf "%s\\n" "$@" > "$FAKE_SLURM_LOG/sbatch.$(date +%s%N).$$.args"\n'
              'echo "fake sbatch: recorded" >&2\nexit 1\n',
    "sacctmgr": 'echo "${CPT_ACCOUNT:-}"\n',   # the plugin validates -A against the user's accounts
    "squeue": "exit 0\n",
    "sacct": "exit 0\n",
}


def sbatch_calls(log: Path) -> list[list[str]]:
    return [p.read_text().splitlines() for p in sorted(log.glob("sbatch.*.args"))]


def touch(work: Path, *paths: str) -> None:
    """Upstream outputs as empty files; a model config.json gets the reference shape, which the
    controller's config checks read once it exists."""
    for path in paths:
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).touch()
        if path.endswith("/config.json"):
            import yaml

            config = yaml.safe_load((work / "config.yaml").read_text())
            (work / path).write_text(json.dumps(config["slurm"]["planner"]["model"]))
