"""profiles/frontier/env.sh and job-env.sh against the cited table (profiles/frontier/sources.yaml):
the scripts are sourced by a real bash with a `module` that records its arguments, and every
variable they set, and every module they load, must be the table's, with a source that exists."""

import fnmatch
import os
import re
import subprocess

import pytest
import yaml
from workflow_run import ROOT

PROFILE = ROOT / "profiles/frontier"
TABLE = yaml.safe_load((PROFILE / "sources.yaml").read_text())
LOGIN_ENV = {"PATH": os.environ["PATH"], "HOME": "/ccs/home/usr1", "MEMBERWORK": "/lustre/orion/abc123/scratch",
             "PROJWORK": "/lustre/orion/abc123/proj-shared", "CPT_ACCOUNT": "abc123",
             "CRAY_LD_LIBRARY_PATH": "/opt/cray/pe/lib64", "LD_LIBRARY_PATH": "/usr/lib64"}


def sourced(script: str, env: dict, modules_log=None) -> dict:
    """The environment after `source script` in a clean bash (module calls recorded, not run)."""
    log = f'echo "$*" >> {modules_log}' if modules_log else ":"
    out = subprocess.run(["bash", "--noprofile", "--norc", "-c",
                          f'module() {{ {log}; }}; set -e; source "{PROFILE / script}"; env -0'],
                         env=env, capture_output=True, check=True).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


def set_by(before: dict, after: dict) -> dict:
    ignored = {"PWD", "SHLVL", "_", "OLDPWD"}
    return {k: v for k, v in after.items() if before.get(k) != v and k not in ignored}


def table_vars(script: str) -> dict:
    return {k: v for k, v in TABLE["variables"].items() if v["script"] == script}


def test_every_entry_has_a_reason_and_an_existing_source():
    entries = [*TABLE["modules"], *TABLE["variables"].values(), *TABLE["sbatch"]["train_segment"]]
    for entry in entries:
        assert entry["why"].strip(), entry
        doc = entry["source"].split("#")[0]
        assert doc == "project" or doc in TABLE["docs"], f"{entry}: source {doc!r} is not in docs:"


def test_login_script_sets_exactly_the_table(tmp_path):
    log = tmp_path / "modules"
    after = sourced("env.sh", LOGIN_ENV, log)
    loaded = log.read_text().split()
    assert loaded[0] == "load" and loaded[1:] == [m["name"] for m in TABLE["modules"]]
    changed = set_by(LOGIN_ENV, after)
    assert set(changed) == set(table_vars("env.sh")), "env.sh and sources.yaml disagree on which variables"
    for name, entry in table_vars("env.sh").items():
        expected = (entry["value"].replace("$MEMBERWORK", LOGIN_ENV["MEMBERWORK"])
                    .replace("$CPT_ACCOUNT", LOGIN_ENV["CPT_ACCOUNT"]).replace("$HOME", LOGIN_ENV["HOME"])
                    .replace("$CRAY_LD_LIBRARY_PATH:...", "/opt/cray/pe/lib64:/usr/lib64")
                    .replace("profiles/frontier/job-env.sh", str(PROFILE / "job-env.sh")))
        assert changed[name] == expected, f"{name}: env.sh sets {changed[name]!r}, sources.yaml says {expected!r}"


@pytest.mark.parametrize("nodes, net", [("64", "multi_node"), ("1", "single_node")])
def test_job_script_sets_exactly_the_table(tmp_path, nodes, net):
    env = {"PATH": os.environ["PATH"], "SLURM_JOB_ID": "4242", "SLURM_JOB_NUM_NODES": nodes}
    changed = set_by(env, sourced("job-env.sh", env))
    assert set(changed) == set(table_vars("job-env.sh"))
    for name, entry in table_vars("job-env.sh").items():
        expected = entry["value"][net] if isinstance(entry["value"], dict) else entry["value"]
        assert changed[name] == expected.replace("$SLURM_JOB_ID", "4242"), name
    os.rmdir("/tmp/miopen-4242")


def test_job_script_leaves_the_login_node_alone():
    env = {"PATH": os.environ["PATH"], "HF_TOKEN": "hf_x", "LD_LIBRARY_PATH": "/opt/cray/pe/lib64"}
    assert sourced("job-env.sh", env).items() >= env.items()    # publishing (a localrule) keeps its token


def test_a_dtn_job_starts_clean_without_the_token():
    """The plugin's --export=ALL brings the login session into a DTN job: only the table's survive."""
    login = {**LOGIN_ENV, **sourced("env.sh", LOGIN_ENV), "HF_TOKEN": "hf_x", "LC_ALL": "C", "OMP_NUM_THREADS": "4"}
    job = {**login, "SLURM_JOB_ID": "7", "SLURM_CLUSTER_NAME": "dtn"}
    after = {k: v for k, v in sourced("job-env.sh", job).items() if k not in {"PWD", "SHLVL", "_", "OLDPWD"}}
    keep = TABLE["dtn_job"]["keep"]
    assert after == {**{k: v for k, v in job.items() if any(fnmatch.fnmatch(k, p) for p in keep)},
                     "PATH": TABLE["dtn_job"]["path"]}
    assert {"HF_HOME", "HF_TOKEN_PATH", "HOME", "LC_ALL", "OMP_NUM_THREADS", "SLURM_JOB_ID"} <= set(after)
    assert "LD_LIBRARY_PATH" in job and "NCCL_SOCKET_IFNAME" in job      # what it dropped was there


def test_no_compute_job_gets_an_exported_token():
    env = {"PATH": os.environ["PATH"], "SLURM_JOB_ID": "4243", "SLURM_JOB_NUM_NODES": "1", "HF_TOKEN": "hf_x",
           "HUGGING_FACE_HUB_TOKEN": "hf_y", "HF_TOKEN_PATH": "/ccs/home/usr1/.cache/huggingface/token"}
    after = sourced("job-env.sh", env)
    assert not set(TABLE["jobs_scrub"]["unset"]) & set(after) and after["HF_TOKEN_PATH"] == env["HF_TOKEN_PATH"]
    os.rmdir("/tmp/miopen-4243")


def test_rocm_module_matches_the_torch_wheels():
    """The torch wheels of the GPU envs are built for the ROCm the rocm module provides."""
    rocm = next(m["name"] for m in TABLE["modules"] if m["name"].startswith("rocm/")).split("/")[1]
    assert rocm.startswith(TABLE["rocm"] + ".")
    for env in ("train", "eval"):
        text = (ROOT / f"envs/{env}.yaml").read_text()
        wheels = re.findall(r"torch==[\d.]+\+rocm([\d.]+)", text)
        index = re.findall(r"download\.pytorch\.org/whl/rocm([\d.]+)", text)
        assert wheels and set(wheels) == set(index) == {TABLE["rocm"]}, f"envs/{env}.yaml: {wheels} {index}"


def test_sbatch_flags_of_the_table_are_in_the_config(full_config):
    for rule, flags in TABLE["sbatch"].items():
        request = full_config["slurm"]["resources"][rule]
        assert [f["flag"] for f in flags if f["key"] == "sbatch"] == request.get("sbatch", []), rule
        assert [f["flag"] for f in flags if f["key"] == "constraint"] == [f"-C {request['constraint']}"], rule


def test_profile_jobs_stay_below_the_per_user_queue_limit():
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert profile["jobs"] <= TABLE["queue"]["queued_jobs_per_user"] // 2


def test_a_project_miniforge_comes_before_the_module_conda(tmp_path):
    """Snakemake 9 needs conda >= 24.7.1; the module's is 23.11: env.sh prefers the README's Miniforge."""
    conda = tmp_path / TABLE["conda"]["miniforge"].replace("$CPT_PROJECT_HOME/", "") / "bin/conda"
    conda.parent.mkdir(parents=True)
    conda.write_text("#!/bin/sh\necho conda 25.3.1\n")
    conda.chmod(0o755)
    after = sourced("env.sh", {**LOGIN_ENV, "CPT_PROJECT_HOME": str(tmp_path)})
    assert after["PATH"].split(":")[0] == str(conda.parent)
    assert "miniforge" not in sourced("env.sh", LOGIN_ENV)["PATH"]      # none installed: the module's conda
