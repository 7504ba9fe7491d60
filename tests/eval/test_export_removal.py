"""eval.remove_exports through real Snakemake runs: an HF export is deleted once its step's evals are
done, nothing reruns for its absence, and rerunning one eval re-exports it and gets the same score."""

import json
import shutil
import subprocess
import sys

import pytest
import yaml
from workflow_run import link_workflow, snakemake

ARITH = {"name": "Arith", "task": "cpt_demo_arith", "num_fewshot": 0, "metric": "acc"}


@pytest.mark.slow
def test_exports_removed_after_their_evals_and_recreated_for_a_rerun(tiny_model, tmp_path):
    results = tmp_path / "results"
    checkpoints = results / "demo" / "train" / "checkpoints"
    subprocess.run([sys.executable, "-m", "cpt.convert.import_base", "--base-dir", str(tiny_model),
                    "--checkpoints", str(checkpoints)], check=True, capture_output=True)
    shutil.copytree(checkpoints / "step-00000000", checkpoints / "step-00000300")   # the final segment's end
    # what train_segment writes once its step is trained (cpt.chain): evals depend on it
    segments = checkpoints.parent / "segments"
    segments.mkdir(parents=True)
    (segments / "step-00000300.json").write_text(json.dumps({"step": 300}))
    config = tmp_path / "overlay.yaml"
    config.write_text(yaml.safe_dump({"results_dir": str(results), "model": {"base_dir": str(tiny_model)},
                                      "eval": {"every": 300, "limit": 16, "tasks": [ARITH], "remove_exports": True}}))
    work = link_workflow(tmp_path / "work")
    args = ("--cores", "2", "--configfile", "configs/demo.yaml", str(config), "--")
    result = results / "demo" / "eval" / "results" / "step-00000300" / "Arith.json"
    export = results / "demo" / "eval" / "models" / "step-00000300"

    snakemake(work, *args, str(result))                             # step 300 only: one export, one eval
    first = json.loads(result.read_text())
    assert first["status"] == "ok" and not export.exists()          # evaluated, then the export went
    again = snakemake(work, "-n", *args, str(result))
    assert "Nothing to be done" in again.stdout + again.stderr      # a removed export reruns nothing

    rerun = snakemake(work, *args[:-1], "--forcerun", "eval_task", "--", str(result))
    assert "eval_export" in rerun.stdout + rerun.stderr                # re-exported for the rerun ...
    assert json.loads(result.read_text())["value"] == first["value"] and not export.exists()   # ... and removed
