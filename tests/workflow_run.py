"""Running the real snakemake CLI from tests: a working dir with the workflow linked in."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ("Snakefile", "workflow", "config.yaml", "configs", "envs", "profiles")


def link_workflow(work: Path) -> Path:
    """`work` with the repo's workflow files linked in (results and .snakemake stay in `work`)."""
    work.mkdir(parents=True, exist_ok=True)
    for item in WORKFLOW:
        (work / item).symlink_to(ROOT / item)
    return work


def snakemake(work: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The real snakemake in `work`; rules' `python -m cpt...` find this venv's python first on PATH."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    result = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=work, env=env,
                            capture_output=True, text=True)
    if check:
        assert result.returncode == 0, f"snakemake {shlex.join(args)}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result
