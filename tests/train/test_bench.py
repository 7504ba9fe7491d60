"""The sweep's benchmark (cpt.train.bench) on real gloo ranks: the trainer's step on the run's mix and
base model at a layout, timed after warm-up, and nothing saved but its record."""

import json

import train_helpers as h
from cpt.train import checkpoint


def test_bench_times_a_layout_and_saves_no_checkpoint(tmp_path, model_dir, manifest):
    h.import_step0(model_dir, tmp_path)
    train = {"steps": 1, "steps_per_segment": 1, "local_batch": 2, "micro_batch": 1,
             "parallel": {"dp_replicate": 2, "dp_shard": 1, "tp": 1}, "activation_checkpointing": "selective"}
    out = tmp_path / "sweep" / "r2-s1-t1-m1-selective.json"
    h.run_ok(2, ["-m", "cpt.train.bench", "--layout", "r2-s1-t1-m1-selective", "--train-config", json.dumps(train),
                 "--manifest", str(manifest), "--base-dir", str(model_dir),
                 "--step0", str(checkpoint.step_dir(tmp_path / "checkpoints", 0)), "--seq-len", str(h.SEQ_LEN),
                 "--warmup", "1", "--steps", "3", "--out", str(out)], tmp_path / "logs")
    record = json.loads(out.read_text())
    assert record["layout"] == "r2-s1-t1-m1-selective" and record["world_size"] == 2
    assert len(record["step_times_s"]) == 3 and record["seconds_per_step"] in record["step_times_s"]
    # 2 DP ranks x 2 rows x 32 tokens per step, over 2 GCDs
    assert record["tokens_per_s_per_gcd"] == 2 * 2 * h.SEQ_LEN / record["seconds_per_step"] / 2
    assert record["mfu"] is None and record["memory_peak_gb"] > 0  # CPU: no peak FLOPs; RSS
    assert checkpoint.complete_steps(tmp_path / "checkpoints") == [0]
