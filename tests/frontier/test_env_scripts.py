"""profiles/frontier/env.sh and job-env.sh against the cited table (profiles/frontier/sources.yaml):
the scripts are sourced by a real bash with a `module` that records its arguments, and every
variable they set, and every module they load, must be the table's, with a source that exists."""

import os
import re
import subprocess

import pytest
import yaml
from workflow_run import ROOT

PROFILE = ROOT / "profiles/frontier"
TABLE = yaml.safe_load((PROFILE / "sources.yaml").read_text())
LOGIN_ENV = {"PATH": os.environ["PATH"], "MEMBERWORK": "/lustre/orion/abc123/scratch",
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
                    .replace("$PROJWORK", LOGIN_ENV["PROJWORK"])
                    .replace("$CPT_ACCOUNT", LOGIN_ENV["CPT_ACCOUNT"])
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


@pytest.mark.parametrize("where", [{}, {"SLURM_JOB_ID": "7", "SLURM_CLUSTER_NAME": "dtn"}], ids=["login", "dtn-job"])
def test_job_script_leaves_downloading_hosts_online(where):
    env = {"PATH": os.environ["PATH"], **where}
    assert set_by(env, sourced("job-env.sh", env)) == {}


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
