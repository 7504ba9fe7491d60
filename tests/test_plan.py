"""The planner (cpt.plan): the seed's figures, sources' tokens and epochs, throughput from
metrics, node-hours, memory per GCD, and the queue-policy error before submission."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cpt import plan
from cpt.settings import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def config() -> dict:
    return plan.load_config([str(ROOT / "config.yaml")])


def with_steps(config: dict, steps: int) -> dict:
    config = copy.deepcopy(config)
    config["train"]["steps"] = steps
    return config


def test_tokens_per_step_is_64_ranks_x_21_x_8192(config):
    assert plan.tokens_per_step(config) == 64 * 21 * 8192 == 11_010_048


@pytest.mark.parametrize("steps,tokens", [(73_500, "809.2B"), (500_000, "5.5T")])
def test_seed_totals(config, steps, tokens):
    p = plan.make_plan(with_steps(config, steps))
    assert p["total_tokens"] == steps * 11_010_048
    assert f"= {tokens} tokens" in plan.render(p)


def test_rows_weighting_gives_token_shares_by_document_length():
    sizes = {"short": {"documents": 100, "tokens": 1_000}, "long": {"documents": 100, "tokens": 9_000}}
    usage = plan.mix_usage({"short": 0.5, "long": 0.5}, sizes, total_tokens=5_000, weighting="rows")
    assert usage["short"]["token_share"] == pytest.approx(0.1)
    assert usage["long"]["tokens"] == pytest.approx(4_500)
    assert usage["long"]["epochs"] == pytest.approx(0.5)
    assert usage["short"]["documents"] == usage["long"]["documents"] == pytest.approx(50)


def test_tokens_weighting_gives_token_shares_directly():
    sizes = {"a": {"documents": 10, "tokens": 100}, "b": {"documents": 10, "tokens": 1_000}}
    usage = plan.mix_usage({"a": 0.25, "b": 0.75}, sizes, total_tokens=400, weighting="tokens")
    assert usage["a"]["tokens"] == 100 and usage["a"]["epochs"] == pytest.approx(1.0)


def test_manifest_counts_replace_config_estimates(config):
    manifest = {"sources": {name: {"available_documents": 10, "available_tokens": 1e12}
                            for name in config["data"]["sources"]}}
    p = plan.make_plan(config, manifest=manifest)
    assert p["sources_from"] == "manifest"
    assert sum(u["token_share"] for u in p["sources"].values()) == pytest.approx(1)


def test_schedule_of_the_reference_run(config):
    s = plan.make_plan(config)["schedule"]
    assert (s["nodes"], s["tasks"], s["partition"], s["hours"]) == (64, 512, "extended", 24)
    assert s["segments"] == 143                       # ceil(500,000 / 3,500)
    assert s["steps_fitting_one_job"] == (24 * 3600 - 20 * 60) // 23
    assert s["node_hours"] == pytest.approx((500_000 * 23 / 3600 + 143 * 20 / 60) * 64)
    assert s["gcd_hours"] == pytest.approx(8 * s["node_hours"])


def test_calendar_time_follows_queue_wait(config):
    no_wait = plan.make_plan(config, queue_wait_hours=0)["schedule"]["calendar_days"]
    day_wait = plan.make_plan(config, queue_wait_hours=24)["schedule"]["calendar_days"]
    assert day_wait - no_wait == pytest.approx(143)


def test_measured_step_time_replaces_config(config, tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    records = [{"step": 10 * i, "step_time_s": t} for i, t in enumerate([90, 20, 21, 22])]
    metrics.write_text("".join(json.dumps(r) + "\n" for r in records))
    p = plan.make_plan(config, metrics=metrics)
    assert p["seconds_per_step"] == 21     # median without the first (compile) record
    assert p["seconds_per_step_from"].startswith("measured")


def test_llama_8b_fits_a_gcd_under_hsdp_tp_full_ac(config):
    p = plan.make_plan(config)
    assert p["params"] == pytest.approx(8.03e9, rel=0.001)
    mem = p["memory_gb"]
    assert mem["optimizer (AdamW, fp32)"] == pytest.approx(8 * p["params"] / 256 / 1e9)
    assert 10 < mem["total"] < 0.9 * 64


def test_memory_without_checkpointing_is_refused_with_the_micro_batch_that_fits(config):
    config = copy.deepcopy(config)
    config["train"].update(activation_checkpointing="none", micro_batch=21)
    largest = plan.largest_micro_batch(config, plan.model_shape(config)[0])
    assert largest is not None and largest < 21
    with pytest.raises(ConfigError, match=rf"modelled peak .* at train.micro_batch=21 exceeds slurm.node.gcd_memory_gb=64 "
                                          rf"less slurm.planner.memory_headroom .*set train.micro_batch to {largest}"):
        plan.make_plan(config)


def test_a_config_that_fits_at_no_micro_batch_names_the_keys_to_change(config):
    config = copy.deepcopy(config)
    config["train"]["parallel"].update(tp=1, dp_shard=256)
    config["slurm"]["node"]["gcd_memory_gb"] = 8
    with pytest.raises(ConfigError, match="even train.micro_batch=1 does not fit; raise train.parallel.tp"):
        plan.make_plan(config)


def test_plan_prints_memory_by_kind_and_the_micro_batches(config):
    text = plan.render(plan.make_plan(config))
    micro = config["train"]["micro_batch"]
    assert "FSDP gathered params" in text and "working set (block recompute)" in text and "total (modelled)" in text
    assert f"micro-batch       {micro} rows per pass; largest that fits: 21" in text


def test_segment_longer_than_its_job_is_a_warning(config):
    config = copy.deepcopy(config)
    config["train"]["steps_per_segment"] = 4000       # 25.6 h of work in a 24 h job
    assert any("lower train.steps_per_segment" in w for w in plan.warnings(plan.make_plan(config), config))


def test_policy_violation_is_an_error(config):
    config = copy.deepcopy(config)
    config["slurm"]["resources"]["train_segment"]["hours"] = 30
    with pytest.raises(ConfigError, match="slurm.resources.train_segment.hours=30 exceeds the 24 h"):
        plan.make_plan(config)


def test_missing_source_estimate_names_the_key(config):
    config = copy.deepcopy(config)
    del config["slurm"]["planner"]["sources"]["finemath"]
    with pytest.raises(ConfigError, match="slurm.planner.sources has no size estimate for finemath"):
        plan.make_plan(config)


def test_cli_prints_the_plan_and_fails_on_a_violation(tmp_path):
    overlay = tmp_path / "over.yaml"
    overlay.write_text(f"results_dir: {tmp_path}\nslurm: {{resources: {{train_segment: {{partition: batch}}}}}}\n")
    ok = subprocess.run([sys.executable, "-m", "cpt.plan", str(ROOT / "config.yaml"), "--json",
                         str(tmp_path / "p.json")], capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0 and "tokens per step   11,010,048" in ok.stdout
    assert json.loads((tmp_path / "p.json").read_text())["schedule"]["segments"] == 143
    bad = subprocess.run([sys.executable, "-m", "cpt.plan", str(ROOT / "config.yaml"), str(overlay)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 1
    assert ("rule train_segment: slurm.resources.train_segment.hours=24 exceeds the 2 h allowed for 64 nodes"
            " on 'batch'") in bad.stderr


@pytest.mark.slow  # the 8B model at world size 512 on a fake process group: ~3-4 min of one CPU core
def test_reference_trace_fits_and_the_model_is_within_15_percent(config):
    p = plan.make_plan(config, trace_memory=True)
    traced = p["memory_traced_gb"]
    assert traced["compile"] is False and traced["micro_batch"] == config["train"]["micro_batch"]
    assert traced["peak"] <= 0.9 * 64
    assert p["memory_gb"]["total"] == pytest.approx(traced["peak"], rel=0.15)
