"""The training rules end to end: step-0 import and a chain of three segments under
the real snakemake (torchrun, 2 gloo ranks), on a pre-made manifest."""

import json
import re
import shutil

import pytest
import yaml

import train_helpers as h
from workflow_run import link_workflow, snakemake
from cpt.train import checkpoint

@pytest.mark.slow
def test_segment_chain_runs_and_keeps_segment_ends(tmp_path):
    work = link_workflow(tmp_path / "work")
    model_dir = h.make_model_dir(tmp_path / "model")
    h.make_data(work / "results" / "chain" / "data", model_dir, rows=40)
    overlay = {"run": "chain", "model": {"base_dir": str(model_dir)}, "data": {"seq_len": h.SEQ_LEN},
               "train": {"steps": 5, "steps_per_segment": 2, "local_batch": 2,
                         "parallel": {"dp_replicate": 1, "dp_shard": 2, "tp": 1}, "compile": False,
                         "activation_checkpointing": "none", "param_dtype": "float32",
                         "checkpoint": {"interval": 1, "keep_last": 1, "keep_every": 100}, "log_interval": 1},
               "eval": {"every": 100}}
    (work / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    args = ["train", "--cores", "2", "--configfile", "config.yaml", "overlay.yaml",
            "--allowed-rules", "train_import", "train_segment", "train"]
    snakemake(work, *args)
    checkpoints = work / "results" / "chain" / "train" / "checkpoints"
    assert checkpoint.complete_steps(checkpoints) == [0, 2, 4, 5]  # 1 and 3 fell to keep_last=1
    metrics = (work / "results" / "chain" / "train" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in metrics] == [1, 2, 3, 4, 5]
    assert "Nothing to be done" in snakemake(work, *args, "-n").stdout
    # deleting one segment's checkpoint reruns the chain from there: segments 4 and 5, not 2
    shutil.rmtree(checkpoints / "step-00000004")
    plan = snakemake(work, *args, "-n").stdout
    planned = set(re.findall(r"output: \S+/step-(\d+)/complete\.json", plan))
    assert planned == {"00000004", "00000005"}, plan[-2000:]
    snakemake(work, *args)
    assert checkpoint.complete_steps(checkpoints) == [0, 2, 4, 5]
    rerun = (work / "results" / "chain" / "train" / "metrics.jsonl").read_text().splitlines()
    # resumed from step 2: the log's later lines were replaced by the same losses (exact resume)
    assert [json.loads(line)["loss"] for line in rerun] == [json.loads(line)["loss"] for line in metrics]
