"""cpt.evaluate.node: a step's tasks at once in one node job, each child pinned to its own GPU,
never more at once than the job's GPUs (real child processes); and the demo's step-0 evals
through the eval_step rule (real lm-eval, slow)."""

import json
import shutil
import sys
import time

import pytest
from workflow_run import link_workflow, snakemake

from cpt.evaluate import node

CHILD = ("import os, time; get = lambda k: os.environ.get(k, '-'); print(get('ROCR_VISIBLE_DEVICES'),"
         " get('HIP_VISIBLE_DEVICES'), get('CUDA_VISIBLE_DEVICES'), time.time()); time.sleep(1.5); print(time.time())")
# A Frontier node job: Slurm lists the 8 GCDs in ROCR_VISIBLE_DEVICES (a stray HIP_/CUDA_ list too).
ROCM_JOB = {"PATH": "/usr/bin:/bin", "ROCR_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7",
            "HIP_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7", "CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7"}


def test_children_share_the_job_gpus_one_each(tmp_path):
    commands = [([sys.executable, "-c", CHILD], tmp_path / f"child{i}.log") for i in range(3)]
    start = time.monotonic()
    codes = node.run_all(commands, ["4", "6"], env=ROCM_JOB, poll_seconds=0.05)
    elapsed = time.monotonic() - start
    assert codes == [0, 0, 0]
    runs = [(tmp_path / f"child{i}.log").read_text().split() for i in range(3)]
    # ROCm renumbers after ROCR_VISIBLE_DEVICES: only it narrows; a HIP_/CUDA_ id would name a missing device
    assert all(r[1] == r[2] == "-" for r in runs), runs
    assert {runs[0][0], runs[1][0]} == {"4", "6"}            # the first two at once, on different GPUs
    assert float(runs[2][3]) >= min(float(runs[0][4]), float(runs[1][4])) - 0.05   # the third waited for a GPU
    assert elapsed < 3 * 1.5                                  # not one after another


def test_an_nvidia_job_narrows_with_cuda_visible_devices(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": "2,5"}
    assert node.run_all([([sys.executable, "-c", CHILD], tmp_path / "c.log")], node.job_gpus(env, 8)[1:],
                        env=env, poll_seconds=0.05) == [0]
    assert (tmp_path / "c.log").read_text().split()[:3] == ["-", "-", "5"]


def test_job_gpus_come_from_slurm_else_count():
    assert node.job_gpus({"ROCR_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7"}, 4) == ["0", "1", "2", "3"]
    assert node.job_gpus({}, 2) == ["0", "1"]


def test_a_crashed_task_fails_the_job(tmp_path):
    commands = [([sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "a.log"),
                ([sys.executable, "-c", "pass"], tmp_path / "b.log")]
    assert node.run_all(commands, ["0"], poll_seconds=0.05) == [3, 0]


@pytest.mark.slow
def test_demo_step0_tasks_through_eval_step(tmp_path, demo_dir):
    work = link_workflow(tmp_path / "work")
    shutil.copytree(demo_dir, work / "demo")
    (work / "node.yaml").write_text("eval: {node_jobs: true}\n")
    results = [f"results/demo/eval/results/step-00000000/{task}.json" for task in ("Arith", "Count")]
    snakemake(work, "--profile", "profiles/local", "--configfile", "configs/demo.yaml", "node.yaml", "--", *results)
    for path in results:
        record = json.loads((work / path).read_text())
        assert record["status"] == "ok" and 0 <= record["value"] <= 1, record
    node_log = (work / "results/demo/logs/eval/step-00000000/node.log").read_text()
    assert "2/2 finished" in node_log and (work / "results/demo/logs/eval/step-00000000/Count.log").exists()
