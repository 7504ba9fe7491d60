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

CHILD = ("import os, time; print(os.environ['ROCR_VISIBLE_DEVICES'], os.environ['HIP_VISIBLE_DEVICES'],"
         " os.environ['CUDA_VISIBLE_DEVICES'], time.time()); time.sleep(1.5); print(time.time())")


def test_children_share_the_job_gpus_one_each(tmp_path):
    commands = [([sys.executable, "-c", CHILD], tmp_path / f"child{i}.log") for i in range(3)]
    start = time.monotonic()
    codes = node.run_all(commands, ["4", "6"], env={"PATH": "/usr/bin:/bin"}, poll_seconds=0.05)
    elapsed = time.monotonic() - start
    assert codes == [0, 0, 0]
    runs = [(tmp_path / f"child{i}.log").read_text().split() for i in range(3)]
    assert all(r[0] == r[1] == r[2] for r in runs)          # one GPU, the same for every runtime
    assert {runs[0][0], runs[1][0]} == {"4", "6"}            # the first two at once, on different GPUs
    assert float(runs[2][3]) >= min(float(runs[0][4]), float(runs[1][4])) - 0.05   # the third waited for a GPU
    assert elapsed < 3 * 1.5                                  # not one after another


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
