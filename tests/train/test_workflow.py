"""The training rules end to end, under the real snakemake (no Slurm profile: each segment's
localrule runs torchrun, 2 gloo ranks, under the run's writer record), on a pre-made manifest:
the chain, the rerun policy (operational edits rerun nothing, result-changing ones are refused
at dry run naming the keys, train.continue_from continues from a named step), and an
extension of train.steps that keeps every trained checkpoint."""

import json
import re

import pytest
import yaml

import train_helpers as h
from workflow_run import link_workflow, snakemake
from cpt.train import checkpoint

ARGS = ["train", "--cores", "2", "--configfile", "config.yaml", "overlay.yaml",
        "--allowed-rules", "train_import", "train_segment", "train"]


def overlay(model_dir, steps=4, **train):
    return {"run": "chain", "model": {"base_dir": str(model_dir)}, "data": {"seq_len": h.SEQ_LEN},
            "train": {"steps": steps, "steps_per_segment": 2, "local_batch": 2,
                      "parallel": {"dp_replicate": 1, "dp_shard": 2, "tp": 1}, "compile": False,
                      "activation_checkpointing": "none", "param_dtype": "float32",
                      "schedule": {"warmup_steps": 1, "decay_end_step": 8},
                      "checkpoint": {"interval": 1, "keep_last": 1, "keep_every": 100}, "log_interval": 1,
                      **train},
            "eval": {"every": 100}}


def write(work, data):
    (work / "overlay.yaml").write_text(yaml.safe_dump(data))


def planned(work) -> set[str]:
    return set(re.findall(r"output: \S+/segments/step-(\d+)\.json", snakemake(work, *ARGS, "-n").stdout))


def metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "train/metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_chain_rerun_policy_continue_from_and_extension(tmp_path, monkeypatch):
    work = link_workflow(tmp_path / "work")
    model_dir = h.make_model_dir(tmp_path / "model")
    run_dir = work / "results" / "chain"
    h.make_data(run_dir / "data", model_dir, rows=40)
    write(work, overlay(model_dir))
    snakemake(work, *ARGS)
    checkpoints = run_dir / "train" / "checkpoints"
    assert checkpoint.complete_steps(checkpoints) == [0, 2, 4]  # 1 and 3 fell to keep_last=1
    first = metrics(run_dir)
    assert [r["step"] for r in first] == [1, 2, 3, 4]
    # complete.json: parent (the checkpoint the job resumed from), lineage, both digests
    four = checkpoint.marker(checkpoints / "step-00000004")
    assert four["parent"] == 2 and [a["step"] for a in four["lineage"]] == [0, 2]
    assert len(four["training_digest"]) == 16 and len(four["config_digest"]) == 16
    assert json.loads((run_dir / "train/segments/step-00000004.json").read_text())["step"] == 4

    # operational edits (logging, retries, retention, chain polling) rerun nothing...
    write(work, overlay(model_dir, log_interval=7, resubmits=9, chain={"poll_seconds": 5},
                        checkpoint={"interval": 1, "keep_last": 3, "keep_every": 100}))
    assert planned(work) == set()
    # ...and a deleted segment record reruns its segment without training: its checkpoint is valid
    (run_dir / "train/segments/step-00000004.json").unlink()
    marker_times = {s: (checkpoints / f"step-{s:08d}/complete.json").stat().st_mtime_ns for s in (2, 4)}
    snakemake(work, *ARGS)
    assert metrics(run_dir) == first
    assert {s: (checkpoints / f"step-{s:08d}/complete.json").stat().st_mtime_ns for s in (2, 4)} == marker_times

    # a result-changing edit is refused at dry run, naming the keys and the choices
    write(work, overlay(model_dir, optimizer={"lr": 5e-3, "betas": [0.8, 0.9]}))
    refused = snakemake(work, *ARGS, "-n", check=False)
    assert refused.returncode != 0
    text = refused.stdout + refused.stderr
    assert "train.optimizer" in text and "a new run" in text and "train.continue_from" in text, text[-3000:]

    # ...unless continued on purpose from a kept step. Step 2 is weights only (retention dropped its
    # optimizer), so that too is refused at dry run, naming the step that kept its optimizer...
    write(work, overlay(model_dir, optimizer={"lr": 5e-3, "betas": [0.8, 0.9]}, continue_from=2))
    refused = snakemake(work, *ARGS, "-n", check=False)
    text = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "weights only" in text and "CPT_RESUME_WEIGHTS_ONLY=1" in text, text[-3000:]
    assert "kept its optimizer ([4])" in text, text[-3000:]
    # ...and with consent the steps after it train again with the new settings, AdamW restarted at 2
    monkeypatch.setenv("CPT_RESUME_WEIGHTS_ONLY", "1")
    assert planned(work) == {"00000004"}
    snakemake(work, *ARGS)
    history = json.loads((run_dir / "train/run.json").read_text())["history"]
    assert [e["from_step"] for e in history] == [0, 2] and history[1]["changed"] == ["train.optimizer"]
    again = metrics(run_dir)
    assert [r["step"] for r in again] == [1, 2, 3, 4] and again[:2] == first[:2]
    assert again[2]["loss"] == first[2]["loss"] and again[3]["loss"] != first[3]["loss"]  # step 3 used old weights
    four = checkpoint.marker(checkpoints / "step-00000004")
    lineage = [(a["step"], a["training_digest"]) for a in four["lineage"]]
    assert lineage == [(0, None), (2, history[0]["training_digest"])]
    assert four["training_digest"] == history[1]["training_digest"]

    # extending train.steps within the schedule keeps every trained step and trains only the new ones
    write(work, overlay(model_dir, steps=6, optimizer={"lr": 5e-3, "betas": [0.8, 0.9]}, continue_from=2))
    snakemake(work, *ARGS)
    extended = metrics(run_dir)
    assert [r["step"] for r in extended] == [1, 2, 3, 4, 5, 6] and extended[:4] == again
    assert checkpoint.marker(checkpoints / "step-00000006")["parent"] == 4
