"""End to end: lm-eval through our entry point on a tiny HF Llama and the shipped demo tasks."""

import json
import subprocess
import sys

import lm_eval
from cpt.evaluate import prefetch, run
from eval_helpers import TEST_TASKS


def test_cli_writes_a_complete_record(tiny_model, tmp_path):
    out = tmp_path / "step-00000000" / "Count.json"
    subprocess.run([sys.executable, "-m", "cpt.evaluate.run", "--model-dir", str(tiny_model),
                    "--step", "0", "--name", "Count", "--task", "cpt_demo_count",
                    "--num-fewshot", "2", "--metric", "acc_norm", "--batch-size", "8",
                    "--dtype", "bfloat16", "--limit", "16", "--out", str(out)], check=True)
    rec = json.loads(out.read_text())
    assert rec["status"] == "ok", rec.get("error")
    assert 0.0 <= rec["value"] <= 1.0
    assert isinstance(rec["stderr"], float) and rec["stderr"] > 0
    assert rec["samples"] == {"original": 48, "effective": 16}
    assert (rec["num_fewshot"], rec["limit"], rec["task_version"]) == (2, 16, 1.0)
    assert rec["lm_eval_version"] == lm_eval.__version__
    assert rec["dtype"] == "float32"  # CPU runs in fp32 whatever eval.dtype says
    assert not list(out.parent.glob(".*tmp*")), "temporary file left behind"


def test_group_task_from_include_path(tiny_model, tmp_path):
    args = run.parse_args(["--model-dir", str(tiny_model), "--step", "150", "--name", "All",
                           "--task", "cpt_test_group", "--metric", "acc", "--batch-size", "16", "--limit", "8",
                           "--include-path", str(TEST_TASKS), "--out", str(tmp_path / "x.json")])
    rec = run.run(args)
    assert rec["status"] == "ok", rec.get("error")
    assert rec["samples"] == {"original": 96, "effective": 16} and rec["subtasks"] == 2
    assert 0.0 <= rec["value"] <= 1.0 and rec["stderr"] is not None
    assert str(rec["task_version"]) == "2"  # lm-eval keeps a group's version as text


def test_failed_task_is_recorded_not_raised(tmp_path):
    out = tmp_path / "r.json"
    assert run.main(["--model-dir", str(tmp_path / "nope"), "--step", "3500", "--name", "ARC-C",
                     "--task", "arc_challenge", "--out", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["status"] == "failed"
    assert "config.json" in rec["error"] and "model.base_dir" in rec["error"]


def test_prefetch_of_shipped_tasks_works_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "prefetch.json"
    assert prefetch.main(["--task", "cpt_demo_arith", "--task", "cpt_test_group",
                          "--include-path", str(TEST_TASKS), "--out", str(out)]) == 0
    plan = json.loads(out.read_text())["tasks"]
    assert [t["task"] for t in plan["cpt_test_group"]] == ["cpt_demo_arith", "cpt_demo_count"]


def test_dtype_is_the_configs_on_gpus_and_fp32_on_cpu():
    assert run.resolve_dtype("bfloat16", "cuda") == "bfloat16"
    assert run.resolve_dtype("bfloat16", "cpu") == "float32"
    assert run.resolve_device("cpu") == "cpu"
