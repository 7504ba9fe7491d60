"""Eval packing on the real local Slurm cluster, as the frontier profile does it (groups:
eval_task=eval): the demo's step-0 evals share one Slurm job, each run as its own step.
The local nodes have 2 cores and no GPUs, so the stand-in packs 2 per node instead of 8 GCDs."""

import json

import pytest
from test_slurm_local import demo_workdir, slurm_cluster  # noqa: F401 (fixtures)
from workflow_run import snakemake

pytestmark = pytest.mark.slow


def test_step0_evals_share_one_slurm_job(slurm_cluster, demo_workdir, monkeypatch):  # noqa: F811
    monkeypatch.delenv("CPT_ACCOUNT", raising=False)
    results = [f"results/demo/eval/results/step-00000000/{task}.json" for task in ("Arith", "Count")]
    out = snakemake(demo_workdir, "--profile", "profiles/slurm-local", "--configfile", "configs/demo.yaml",
                    "--groups", "eval_task=eval", "--group-components", "eval=2", "--", *results)
    logs = list((demo_workdir / ".snakemake/slurm_logs").rglob("*.log"))
    assert [log.relative_to(demo_workdir / ".snakemake/slurm_logs").parts[0] for log in logs] == \
        ["group_eval_eval_task"], out.stderr[-3000:]
    job_log = logs[0].read_text()
    assert job_log.count("srun -n1") == 2 or job_log.count("rule eval_task:") == 2, job_log[-3000:]
    for path in results:
        record = json.loads((demo_workdir / path).read_text())
        assert record["status"] == "ok" and 0 <= record["value"] <= 1, record
