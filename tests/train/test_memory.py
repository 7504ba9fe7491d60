"""Memory per GCD, checked on real gloo ranks: the fake-mode trace (`python -m cpt.plan
--trace-memory`) against the same code measured with real tensors, under each activation
checkpointing mode, and the chunked loss's working set against the one-pass loss it replaced."""

import json
import subprocess
import sys

import pytest
import yaml

import train_helpers as h
from cpt.plan.memory import memory_per_gcd
from cpt.plan.trace import trace_memory

ROOT = h.Path(__file__).resolve().parents[2]
SHAPE = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "vocab_size": 2048, "tie_word_embeddings": False}
SEQ_LEN = 128
TRAIN = {"local_batch": 4, "micro_batch": 2, "parallel": {"dp_replicate": 1, "dp_shard": 2, "tp": 2},
         "activation_checkpointing": "full", "param_dtype": "float32", "reduce_dtype": "float32",
         "loss_chunk_tokens": SEQ_LEN}
VOCABS = (2048, 8192)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """Rank 0's measurements on 4 real gloo ranks (TP=2 x FSDP=2)."""
    tmp = tmp_path_factory.mktemp("memory")
    spec = {"config": {"data": {"seq_len": SEQ_LEN}, "train": {"steps": 1, "steps_per_segment": 1, **TRAIN}},
            "shape": SHAPE, "vocabs": VOCABS}
    (tmp / "spec.json").write_text(json.dumps(spec))
    worker = str(h.Path(__file__).with_name("memory_worker.py"))
    h.run_ok(4, [worker, str(tmp / "spec.json"), str(tmp / "out.json")], tmp / "logs", timeout=600)
    return json.loads((tmp / "out.json").read_text())


def test_fake_mode_trace_equals_real_ranks(real, tmp_path):
    overlay = tmp_path / "small.yaml"
    overlay.write_text(yaml.safe_dump({
        "results_dir": str(tmp_path), "model": {"base_dir": str(tmp_path / "no-model")},
        "data": {"seq_len": SEQ_LEN}, "train": TRAIN, "slurm": {"planner": {"model": SHAPE}}}))
    run = subprocess.run([sys.executable, "-m", "cpt.plan", str(ROOT / "config.yaml"), str(overlay), "--trace-memory",
                          "--json", str(tmp_path / "plan.json")], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    plan = json.loads((tmp_path / "plan.json").read_text())
    traced, measured = plan["memory_traced_gb"], real["traced"]
    print(f"\ntraced {traced['peak'] * 1e3:.2f} MB, real {measured['Total'] / 1e6:.2f} MB, "
          f"modelled {plan['memory_gb']['total'] * 1e3:.2f} MB")
    assert traced["peak"] * 1e9 == pytest.approx(measured["Total"], rel=0.01)
    for kind, gb in traced["by_kind"].items():
        assert gb * 1e9 == pytest.approx(measured[kind], rel=0.01), kind
    assert "compile off" in run.stdout and "traced peak" in run.stdout
    assert plan["memory_gb"]["total"] == pytest.approx(traced["peak"], rel=0.15)  # the planner's model


def test_chunked_loss_keeps_a_fraction_of_the_one_pass_working_set(real):
    tp, rows = TRAIN["parallel"]["tp"], TRAIN["local_batch"]
    local_logits = rows * SEQ_LEN * (VOCABS[1] - VOCABS[0]) / tp  # per rank, whole local batch
    per_element = {name: (peaks[str(VOCABS[1])] - peaks[str(VOCABS[0])]) / local_logits
                   for name, peaks in real["working_set"].items()}
    print(f"\nbytes per local logit element of the batch: one pass {per_element['one_pass']:.1f}, "
          f"chunked {per_element['chunked']:.1f} (one of {rows} rows per chunk)")
    assert per_element["one_pass"] > 12  # logits, log-softmax and gradients of the whole batch
    assert per_element["chunked"] < per_element["one_pass"] / 2.5


def test_selective_checkpointing_trace_model_and_real_ranks_agree(real):
    """Selective (block 1 of 2) keeps less than none and more than full on real ranks; the fake-mode
    trace equals them, and the planner's model is within its usual margin of the trace and ranks the
    three modes as the real ranks do."""
    modes = {**real["by_ac_mode"], "full": real["traced"]["Total"]}
    assert modes["none"] > modes["selective"] > modes["full"], modes
    config = {"data": {"seq_len": SEQ_LEN}, "train": {"steps": 1, "steps_per_segment": 1, **TRAIN,
                                                      "activation_checkpointing": "selective",
                                                      "activation_checkpointing_every": 2}}
    traced = trace_memory(config, SHAPE)["peak"]
    modelled = memory_per_gcd(config, SHAPE)["total"]
    print(f"\nselective: traced {traced * 1e3:.3f} MB, real {modes['selective'] / 1e6:.3f} MB, "
          f"modelled {modelled * 1e3:.3f} MB")
    assert traced * 1e9 == pytest.approx(modes["selective"], rel=0.01)
    assert modelled == pytest.approx(traced, rel=0.15)
    by_mode = {mode: memory_per_gcd({**config, "train": {**config["train"], "activation_checkpointing": mode}},
                                    SHAPE)["total"] for mode in modes}
    assert sorted(by_mode, key=by_mode.get) == sorted(modes, key=modes.get)  # the model ranks them as real ranks do


def test_model_ranks_checkpointing_modes_as_the_trace_at_a_second_shape():
    """Six blocks on 4 FSDP ranks, selective every 3rd (blocks 2 and 5): the fake-mode trace and the
    model order none > selective > full alike, the model within 15% of each (full: 10% under here)."""
    shape = {**SHAPE, "num_hidden_layers": 6}
    train = {**TRAIN, "parallel": {"dp_replicate": 1, "dp_shard": 4, "tp": 1}, "activation_checkpointing_every": 3}
    traced, modelled = {}, {}
    for mode in ("none", "selective", "full"):
        config = {"data": {"seq_len": SEQ_LEN}, "train": {"steps": 1, "steps_per_segment": 1, **train,
                                                          "activation_checkpointing": mode}}
        traced[mode], modelled[mode] = trace_memory(config, shape)["peak"], memory_per_gcd(config, shape)["total"]
        assert modelled[mode] == pytest.approx(traced[mode], rel=0.15), mode  # the planner's margin (test above)
    print("".join(f"\n{m}: traced {traced[m] * 1e3:.2f} MB, modelled {modelled[m] * 1e3:.2f} MB" for m in traced))
    assert traced["none"] > traced["selective"] > traced["full"]
    assert modelled["none"] > modelled["selective"] > modelled["full"]


def test_planner_charges_one_loss_chunk_whatever_the_row_length():
    """The reference at 32,768 tokens and TP 1 charged one whole row of logits (50.4 GB); a chunk of
    train.loss_chunk_tokens bounds it, and the reference itself (8,192-token rows) is unchanged."""
    from cpt.plan.memory import LOSS_BYTES, memory_per_gcd
    from cpt.checks.config import load_config

    config = load_config([str(ROOT / "config.yaml")])
    shape, chunk = config["slurm"]["planner"]["model"], config["train"]["loss_chunk_tokens"]
    assert memory_per_gcd(config, shape)["total"] == pytest.approx(15.74, abs=0.01)
    config["data"]["seq_len"], config["train"]["parallel"]["tp"] = 32768, 1
    mem = memory_per_gcd(config, shape, micro_batch=1)
    bound = chunk * shape["vocab_size"] * LOSS_BYTES["plain"] / 1e9
    assert mem["working set (loss chunk)"] == pytest.approx(bound)  # 12.6 GB: 8,192 of the 32,768 tokens
    config["train"]["loss_chunk_tokens"] = 2048  # smaller chunks: a block's recompute is the peak then
    assert memory_per_gcd(config, shape, micro_batch=1)["total"] < mem["total"]
