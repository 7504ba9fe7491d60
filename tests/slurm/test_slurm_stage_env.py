"""The packed-environment staging of the training job (cpt/stage-env.sh, slurm.launch.stage_env)
on the real local Slurm cluster: sbcast to the node, unpack, and the ranks' python is the staged
one. The pack here is a venv whose only content points at this checkout, as the project's
editable install does; on Frontier it is conda-pack's archive of envs/train.yaml."""

import subprocess
import sys
from pathlib import Path

import pytest
from workflow_run import ROOT

from cpt.cluster import STAGE_SCRIPT

pytestmark = pytest.mark.slow


def packed_venv(tmp: Path) -> Path:
    env = tmp / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    site = next(env.glob("lib/python3*/site-packages"))
    (site / "cpt-src.pth").write_text(f"{ROOT / 'workflow'}\n")
    subprocess.run(["tar", "-czf", str(tmp / "env.tar.gz"), "-C", str(env), "."], check=True)
    return tmp / "env.tar.gz"


def staged_job(tmp: Path, pack: Path, dest: Path) -> subprocess.CompletedProcess:
    script = tmp / "job.sh"
    script.write_text(f'#!/bin/bash\nbash {STAGE_SCRIPT} "{pack}" "{dest}" && srun -N1 -n1 "{dest}/bin/python" -c '
                      '"import sys, cpt; print(\'PREFIX\', sys.prefix); print(\'CPT\', cpt.__file__)"\n')
    result = subprocess.run(["sbatch", "--wait", "-N1", "-t", "5", "-o", str(tmp / "job.out"), str(script)],
                            capture_output=True, text=True, timeout=240)
    return result


def test_ranks_run_the_staged_python(slurm_cluster, tmp_path):  # noqa: F811
    dest = tmp_path / "node-local/cpt-train"
    result = staged_job(tmp_path, packed_venv(tmp_path), dest)
    out = (tmp_path / "job.out").read_text()
    assert result.returncode == 0, out
    assert f"PREFIX {dest}\n" in out and f"CPT {ROOT / 'workflow/cpt/__init__.py'}" in out, out
    assert "-> " + str(dest) + " on 1 node(s)" in out


def test_missing_pack_stops_the_job_with_the_fix(slurm_cluster, tmp_path):  # noqa: F811
    result = staged_job(tmp_path, tmp_path / "absent.tar.gz", tmp_path / "dest")
    out = (tmp_path / "job.out").read_text()
    assert result.returncode != 0 and "build it once on the login node" in out and "PREFIX" not in out
