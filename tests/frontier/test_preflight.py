"""profiles/frontier/preflight.sh on a stand-in login node: env.sh sourced by a real bash whose
`module` records loads as Lmod does (LOADEDMODULES), and conda, sinfo, squeue on PATH printing what
OLCF's docs and Slurm print. Every check passes on a good node and fails, with its fix, on a bad one."""

import os
import subprocess
import sys

import pytest
from workflow_run import ROOT

from cpt.checks import task_index

PROFILE = ROOT / "profiles/frontier"
# Lmod puts the default version of an unversioned load (rccl-net-plugin) into LOADEDMODULES.
MODULE = ('module() { shift; for m in "$@"; do case "$m" in */*) ;; *) m="$m/1.0";; esac; '
          'LOADEDMODULES="${LOADEDMODULES:+$LOADEDMODULES:}$m"; done; export LOADEDMODULES; }')
SINFO_OK = 'echo "CLUSTER: $2"; echo "batch*"'
SBATCH_OK = ('echo "sbatch: Job 3100077 to start at 2026-12-05T09:14:02 using 1 processors on nodes dtn03 in '
             'partition batch" >&2')
SBATCH_BAD = ('echo "sbatch: error: Batch job submission failed: Invalid account or account/partition combination '
              'specified" >&2; exit 1')
SINFO_BAD = ("echo \"sinfo: error: '$2' can't be reached now, or it is an invalid entry for --cluster.  "
             "Use 'sacctmgr list clusters' to see available clusters.\" >&2; exit 1")


def stand_ins(bin_dir, conda: str, sinfo: str, queued: int, sbatch: str = SBATCH_OK):
    bin_dir.mkdir()
    for name, body in {"conda": f'echo "conda {conda}"', "sinfo": sinfo, "sbatch": sbatch,
                       "squeue": f"seq 3100001 {3100000 + queued}"}.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)


def preflight(tmp_path, env: dict, source_env_sh: bool = True) -> subprocess.CompletedProcess:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    (work / "config.yaml").write_text((ROOT / "config.yaml").read_text())
    steps = [MODULE, f'source "{PROFILE}/env.sh"'] if source_env_sh else []
    script = "; ".join([*steps, f'"{PROFILE}/preflight.sh"'])
    return subprocess.run(["bash", "--noprofile", "--norc", "-c", script], cwd=work, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def login(tmp_path):
    """A login node's variables, with Orion and Project Home in tmp_path."""
    home, orion = tmp_path / "home", tmp_path / "orion"
    for d in (home / ".cache/huggingface", orion / "scratch", orion / "proj", tmp_path / "proj/abc123"):
        d.mkdir(parents=True)
    (home / ".cache/huggingface/token").write_text("hf_xxxxxxxx\n")
    return {"PATH": f"{tmp_path / 'bin'}:{os.path.dirname(sys.executable)}:/usr/bin:/bin", "HOME": str(home),
            "USER": "usr1", "CPT_ACCOUNT": "abc123", "MEMBERWORK": str(orion / "scratch"),
            "PROJWORK": str(orion / "proj"), "CRAY_LD_LIBRARY_PATH": "/opt/cray/pe/lib64",
            "CPT_PROJECT_HOME": str(tmp_path / "proj/abc123"),
            "CPT_CACHE_DIR": str(task_index.cache_dir())}   # lm-eval's task index, built once (not per HOME)


def test_a_ready_login_node_passes(tmp_path, login):
    stand_ins(tmp_path / "bin", "24.11.3", SINFO_OK, queued=3)
    done = preflight(tmp_path, login)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    names = [line.split(":")[0] for line in lines[:-1]]
    assert names == ["ok conda", "ok modules", "ok account", "ok writable workdir (results/)",
                     "ok writable HF_HOME (hub cache)", "ok writable conda envs (SNAKEMAKE_CONDA_PREFIX)",
                     "ok writable packed training env", "ok conda envs placement", "ok HF token", "ok cluster dtn",
                     "ok route dtn", "ok queue"], lines
    assert "conda 24.11.3" in lines[0] and "rocm/7.2.0" in lines[1] and "3 of your jobs queued" in done.stdout
    assert "ok route dtn: sbatch: Job 3100077 to start at" in done.stdout
    assert lines[-1] == "preflight: 12 ok, 0 FAIL"


def test_each_check_fails_with_its_fix(tmp_path, login):
    stand_ins(tmp_path / "bin", "23.11.0", SINFO_BAD, queued=60)
    bad = {**login, "CPT_ACCOUNT": "ABC123", "LOADEDMODULES": "PrgEnv-gnu/8.7.0:rocm/7.1.1",
           "HF_TOKEN_PATH": f"{login['MEMBERWORK']}/token", "CPT_PROJECT_HOME": f"{login['MEMBERWORK']}/proj",
           "SNAKEMAKE_CONDA_PREFIX": f"{login['MEMBERWORK']}/proj/cpt/conda-envs"}
    del bad["PROJWORK"]
    done = preflight(tmp_path, bad, source_env_sh=False)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "FAIL: conda: " in out and "is conda 23.11.0; Snakemake 9 needs conda >= 24.7.1" in out
    assert "Miniforge3-Linux-x86_64.sh -b -p " + bad["CPT_PROJECT_HOME"] + "/cpt/miniforge3" in out
    assert "FAIL: modules: not loaded: cpe/26.03 rocm/7.2.0 rccl-net-plugin" in out
    assert "FAIL: account: CPT_ACCOUNT=ABC123" in out and "export CPT_ACCOUNT=abc123" in out
    assert "FAIL: writable HF_HOME (hub cache): $HF_HOME: HF_HOME unset" in out
    assert "FAIL: writable packed training env" in out and "PROJWORK unset" in out
    assert "FAIL: conda envs placement: SNAKEMAKE_CONDA_PREFIX=" + bad["SNAKEMAKE_CONDA_PREFIX"] + " is on Orion" in out
    assert "FAIL: HF token: HF_TOKEN_PATH=" in out and "is on Orion" in out
    assert "FAIL: cluster dtn: `sinfo -M dtn` failed: sinfo: error: 'dtn' can't be reached" in out
    assert "FAIL: queue: 60 of your jobs queued, the profile submits up to 50, OLCF allows 100" in out
    assert out.splitlines()[-1].startswith("preflight: 2 ok, 9 FAIL")


def test_an_exported_token_and_a_refused_route_fail(tmp_path, login):
    stand_ins(tmp_path / "bin", "24.11.3", SINFO_OK, queued=0, sbatch=SBATCH_BAD)
    done = preflight(tmp_path, {**login, "HF_TOKEN": "hf_xxxxxxxx"})
    assert done.returncode == 1 and done.stdout.count("\nFAIL: ") == 2, done.stdout
    assert "FAIL: HF token: HF_TOKEN exported: the Slurm plugin submits with --export=ALL" in done.stdout
    assert "FAIL: route dtn: `sbatch -M dtn -p batch -A abc123 -N 1 -t 1 --test-only --wrap=true` failed: " \
           "sbatch: error: Batch job submission failed: Invalid account" in done.stdout
