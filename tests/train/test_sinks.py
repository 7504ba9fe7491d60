"""Live metrics: TensorBoard event files and a W&B offline run equal metrics.jsonl,
across a resume that replays steps a killed job had already logged."""

import contextlib
import json
import os
import signal
from pathlib import Path

import pytest
import torch

import train_helpers as h
from cpt.train import checkpoint
from cpt.rundir.metrics import truncate_after
from cpt.train.metrics import Metrics
from cpt.live.sinks import Sinks
from cpt.live.wandb_sink import run_id
from cpt.live.wandb_files import history as wandb_history
from live_readers import float32, tensorboard_scalars
from test_distributed import wait_for_step

TOKENS_PER_STEP = 64
WANDB = {"project": "cpt-test", "mode": "offline"}


def jsonl(train_dir):
    return [json.loads(line) for line in (train_dir / "metrics.jsonl").read_text().splitlines()]


def segment(train_dir, first, last, loss_offset, live):
    """Rank 0's metrics of one job running steps first..last."""
    metrics = Metrics(train_dir / "metrics.jsonl", write=True, device=torch.device("cpu"), n_devices=2,
                      flops_per_token=1.0, tokens_per_step=TOKENS_PER_STEP, end_step=10, total_steps=10,
                      log_interval=1, sinks=Sinks(train_dir, live, {"train": {"steps": 10}}))
    for step in range(first, last + 1):
        metrics.step(step, loss=loss_offset + 1.0 / step, lr=1e-3 * step, grad_norm=0.5 + step, step_time=0.01,
                     data_wait=0.001, tokens_seen=step * TOKENS_PER_STEP)
    return metrics


def assert_tensorboard_equals_jsonl(train_dir):
    records = jsonl(train_dir)
    by_step = tensorboard_scalars(train_dir / "tensorboard" / "step")
    by_tokens = tensorboard_scalars(train_dir / "tensorboard" / "tokens")
    for key in ("loss", "lr", "grad_norm", "tokens_per_s_per_device", "step_time_s"):
        assert by_step[f"train/{key}"] == {r["step"]: float32(r[key]) for r in records}, key
        assert by_tokens[f"train/{key}"] == {r["tokens_seen"]: float32(r[key]) for r in records}, key
    assert by_step["train/tokens_seen"] == {r["step"]: float32(r["tokens_seen"]) for r in records}
    assert "train/mfu" not in by_step  # no known peak on CPU: null in metrics.jsonl, no curve


def test_tensorboard_and_wandb_follow_metrics_jsonl_across_a_resume(tmp_path):
    results = tmp_path / "eval" / "results"
    live = {"wandb": WANDB, "eval_results": str(results)}
    train_dir = tmp_path / "train"
    # A job that logged up to step 8 and died after its sinks wrote but before a checkpoint
    # past step 4 (a hard kill: test_real_trainer_killed_...).
    segment(train_dir, 1, 8, 0.0, live).close()
    truncate_after(train_dir / "metrics.jsonl", 4)
    (results / "step-00000004").mkdir(parents=True)  # an eval of step 4 finished meanwhile
    (results / "step-00000004" / "Arith.json").write_text(json.dumps(
        {"status": "ok", "step": 4, "name": "Arith", "value": 0.25, "stderr": 0.01}))
    # The resumed job's values for 5..8 differ, so a stale event would show.
    segment(train_dir, 5, 10, 100.0, live).close()

    records = jsonl(train_dir)
    assert [r["step"] for r in records] == list(range(1, 11))
    assert_tensorboard_equals_jsonl(train_dir)

    ids, rows = wandb_history(train_dir / "wandb")
    assert ids == {run_id(train_dir / "wandb", None)}  # one W&B run across both jobs
    assert [row["_step"] for row in rows] == list(range(1, len(rows) + 1))  # W&B's rows only grow
    train_rows = [row for row in rows if "train/step" in row]
    assert [row["train/step"] for row in train_rows] == list(range(1, 11))  # no step twice, none missing
    # Steps 1-8 as the first job logged them (a real resume replays them bit for bit), 9-10 from the second.
    expected = [1.0 / s for s in range(1, 9)] + [100 + 1.0 / s for s in (9, 10)]
    assert [row["train/loss"] for row in train_rows] == expected
    assert all(row["train/tokens_seen"] == row["train/step"] * TOKENS_PER_STEP for row in train_rows)
    assert [(row["eval/step"], row["eval/Arith"], row["eval/Arith_stderr"]) for row in rows if "eval/step" in row] \
        == [(4, 0.25, 0.01)]


def test_a_failing_sink_is_switched_off_and_training_metrics_go_on(tmp_path, caplog):
    live = {"wandb": {"project": "cpt-test", "mode": "no-such-mode"}}
    segment(tmp_path, 1, 3, 0.0, live).close()
    assert [r["step"] for r in jsonl(tmp_path)] == [1, 2, 3]
    assert_tensorboard_equals_jsonl(tmp_path)
    assert "could not open a sink" in caplog.text


def descendants(pid: int) -> list[int]:
    """Child processes (W&B's wandb-core), from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children + [grandchild for child in children for grandchild in descendants(child)]


@pytest.mark.slow  # two real trainer processes and a W&B service: ~40 s of CPU
def test_real_trainer_killed_and_resumed_keeps_tensorboard_and_wandb_exact(tmp_path, model_dir, manifest,
                                                                            monkeypatch):
    monkeypatch.delenv("WANDB_SERVICE", raising=False)  # each job its own W&B service, as on a cluster
    train_dir = tmp_path / "run"
    h.import_step0(model_dir, train_dir)
    config = h.train_config(tmp_path / "run.yaml", steps=12, steps_per_segment=12,
                            checkpoint={"interval": 4, "keep_last": 2})
    argv = h.trainer_argv(config, manifest, model_dir, train_dir) + ["--live", json.dumps({"wandb": WANDB})]
    procs = h.start(1, argv, tmp_path / "logs")
    wait_for_step(train_dir, 6, procs)
    helpers = descendants(procs[0].pid)
    h.kill(procs)
    for pid in helpers:  # Slurm ends every process of a killed job, W&B's service too
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert 4 <= checkpoint.complete_steps(train_dir / "checkpoints")[-1] < 12
    h.run_ok(1, argv, tmp_path / "logs")

    assert sorted(h.losses(train_dir)) == list(range(1, 13))
    assert_tensorboard_equals_jsonl(train_dir)
    _, rows = wandb_history(train_dir / "wandb")
    train_rows = [row for row in rows if "train/step" in row]
    # What W&B lost with the killed job comes back (metrics.jsonl, then the resumed job): each step once.
    assert [row["train/step"] for row in train_rows] == list(range(1, 13))
    losses = h.losses(train_dir)
    assert all(row["train/loss"] == losses[row["train/step"]] for row in train_rows)  # exact resume


def test_wandb_sync_adds_evals_finished_after_training_once_then_asks_for_a_login(tmp_path, monkeypatch, caplog):
    from cpt.live import wandb_sync
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc: not logged in
    monkeypatch.delenv("NETRC", raising=False)
    results = tmp_path / "eval" / "results"
    live = {"wandb": WANDB, "eval_results": str(results)}
    train_dir = tmp_path / "train"
    segment(train_dir, 1, 3, 0.0, live).close()
    (results / "step-00000003").mkdir(parents=True)  # the final step's eval ends after training
    (results / "step-00000003" / "Arith.json").write_text(json.dumps(
        {"status": "ok", "step": 3, "name": "Arith", "value": 0.5}))
    final = train_dir / "checkpoints" / "step-00000003" / "complete.json"
    argv = ["--train-dir", str(train_dir), "--live", json.dumps(live), "--final-marker", str(final)]
    assert wandb_sync.main(argv) == 1  # training not done: the eval is left to the trainer
    assert [row for row in wandb_history(train_dir / "wandb")[1] if "eval/step" in row] == []
    final.parent.mkdir(parents=True)
    final.write_text("{}")
    for _ in range(2):  # a second sync adds nothing twice
        assert wandb_sync.main(argv) == 1
    assert "no W&B API key on this node: run `wandb login`" in caplog.text
    evals = [row for row in wandb_history(train_dir / "wandb")[1] if "eval/step" in row]
    assert [(row["eval/step"], row["eval/Arith"]) for row in evals] == [(3, 0.5)]


def test_wandb_sync_fails_naming_what_is_not_uploaded_and_skips_a_dir_being_written(tmp_path, monkeypatch, caplog):
    """`wandb sync` (0.31) exits 0 when an upload fails: the dirs still without their uploaded marker fail the
    command, named. The newest dir, not closed by its sink while training runs, is not synced at all."""
    from cpt.live import wandb_sync
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    bin_dir, calls = tmp_path / "bin", tmp_path / "wandb-calls"
    bin_dir.mkdir()
    (bin_dir / "wandb").write_text('#!/bin/sh\necho "$@" >> "$CALLS"\n[ -n "$UPLOAD" ] || exit 0\n'
                                   'for d in "$@"; do for f in "$d"/run-*.wandb; do [ -f "$f" ] && touch "$f.synced"; '
                                   'done; done\n')
    (bin_dir / "wandb").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("CALLS", str(calls))
    live, train_dir = {"wandb": WANDB}, tmp_path / "train"
    segment(train_dir, 1, 3, 0.0, live).close()
    writing = segment(train_dir, 4, 5, 0.0, live)          # a job still running: its dir is not closed
    try:
        first, newest = wandb_sync.offline_runs(train_dir / "wandb")
        argv = ["--train-dir", str(train_dir), "--live", json.dumps(live), "--final-marker", str(tmp_path / "no")]
        assert wandb_sync.main(argv) == 1                  # the upload "failed", exit 0
        assert f"exited 0 and 1 of 1 dirs are not uploaded ({first.name})" in caplog.text
        monkeypatch.setenv("UPLOAD", "1")
        assert wandb_sync.main(argv) == 0
        synced = calls.read_text().splitlines()
        assert len(synced) == 2 and all(str(first) in line and str(newest) not in line for line in synced)
        assert wandb_sync.unsynced(train_dir / "wandb") == [newest]
    finally:
        writing.close()
