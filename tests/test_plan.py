"""The planner (cpt.plan): the seed's figures, sources' tokens and epochs, throughput from
metrics, node-hours, memory per GCD, and the queue-policy error before submission."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cpt.checks.config import load_config
from cpt import plan
from cpt.settings import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def config() -> dict:
    return load_config([str(ROOT / "config.yaml")])


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
    manifest = {"sources": {name: {"available_documents": 10, "available_tokens": 1e10}
                            for name in config["data"]["sources"]}}
    p = plan.make_plan(config, manifest=manifest)
    assert p["sources_from"] == "manifest"
    assert sum(u["token_share"] for u in p["sources"].values()) == pytest.approx(1)


def test_reference_mix_is_the_seeds(config):
    """Per-file Stack-v2 lands near its 10% row weight; every source over 1.5 epochs is warned about."""
    p = plan.make_plan(config)
    assert config["data"]["sources"]["stack_v2"]["content_fetch"]["documents"] == "file"
    assert 0.05 <= p["sources"]["stack_v2"]["token_share"] <= 0.20
    repeated = {name for name, u in p["sources"].items() if u["epochs"] > 1.5}
    assert repeated == {"fineweb_edu", "finemath"}       # the seed's choice at 500k steps, said out loud
    for name in repeated:
        assert any(w.startswith(f"source {name} is repeated") for w in p["warnings"])


def test_mix_by_hand():
    """Two sources at row weights 0.9/0.1, 100 vs 1,000 tokens a document: the rare one takes
    100/(90+100) = 52.6% of the tokens, over 3x its weight; 1,900 tokens = 1.9 epochs of it."""
    sizes = {"web": {"documents": 1e6, "tokens": 1e8}, "code": {"documents": 1, "tokens": 1000}}
    usage = plan.mix_usage({"web": 0.9, "code": 0.1}, sizes, total_tokens=1900 / (100 / 190), weighting="rows")
    assert usage["code"]["token_share"] == pytest.approx(100 / 190)
    assert usage["code"]["epochs"] == pytest.approx(1.9)
    found = plan.mix_warnings(usage, {"max_epochs": 1.5, "max_share_over_weight": 3.0})
    assert [w.split(" ", 3)[:3] for w in found] == [["source", "code", "is"], ["source", "code", "takes"]]


def test_repo_mode_stack_v2_warns_by_name(config):
    config = copy.deepcopy(config)
    config["data"]["sources"]["stack_v2"]["content_fetch"]["documents"] = "repo"
    p = plan.make_plan(config)
    assert p["sources"]["stack_v2"]["token_share"] > 0.5        # 25k-token repositories at 10% of rows
    assert any(w.startswith("source stack_v2 takes") for w in p["warnings"])
    del config["slurm"]["planner"]["sources"]["stack_v2"]["repositories"]
    with pytest.raises(ConfigError, match="slurm.planner.sources.stack_v2 has no `repositories` count"):
        plan.make_plan(config)


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
    with pytest.raises(ConfigError, match=rf"modelled peak .* at train.micro_batch=21 exceeds "
                                          rf"slurm.node.gcd_memory_gb=64 "
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
    micro = config["train"]["micro_batch"] or config["train"]["local_batch"]   # null: one pass of local_batch
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


# --- jobs: every rule's count and hours against its request -----------------------------------

def test_jobs_of_the_reference_plan_by_hand(config):
    p = plan.make_plan(config)
    jobs, params = p["jobs"], p["params"]
    assert set(jobs) >= {"download", "tokenize", "mix_shard", "train_segment", "eval_export", "eval_task"}
    assert "mix_plan" not in jobs                        # seconds of work: a localrule, no Slurm job
    dclm = jobs["tokenize"]["by_source"]["dclm"]
    # a node job lasts as long as its largest shard: the mean x slurm.planner.shard_balance (1.2)
    assert dclm["hours"] == pytest.approx(3.348942e12 / 896 * 1.2 / 1e6 / 3600)         # 1.25 h of a 2 h job
    assert dclm["min_shards"] == 838                     # ceil(3.349e12 x 1.2 / (1e6 tokens/s x 7,200 s / 1.5))
    assert dclm["groups"] == 16                          # node jobs of 56 shards (slurm.node.cores)
    assert jobs["tokenize"]["count"] == 16 + 7 + 2 + 1 + 3 + 1 and jobs["tokenize"]["workers"] == 56
    assert jobs["mix_shard"]["shards"] == 648            # ceil(500,000 x 1,344 x 1.01 / 1,048,576)
    assert jobs["mix_shard"]["count"] == 12              # ceil(648 / 56) node jobs
    # packing at 500 rows/s plus reading ~7.7M documents of ~1,100 tokens from Orion in blocks of 256
    # (cpt.plan.mix_io: 2.1 reads per block)
    read = jobs["mix_shard"]["read_hours"]
    assert read == pytest.approx(1_048_576 * 8193 / 1116 * (2.1 / 256 * 0.010 / 16 + 2.0 * 4 * 1116 / 1e9) / 3600,
                                 rel=0.01)
    assert jobs["mix_shard"]["hours_estimated"] == pytest.approx(1_048_576 / 500 / 3600 + read)
    assert jobs["eval_export"]["count"] == 143 and jobs["eval_task"]["count"] == 144 * 4
    assert jobs["eval_export"]["hours_estimated"] == pytest.approx(params * 6 / 1e9 / 0.5 / 3600 + 5 / 60)
    assert jobs["eval_task"]["hours_estimated"] == pytest.approx(10_042 / 3.4 / 3600 + 5 / 60)   # HellaSwag
    assert jobs["download"]["by_source"]["dclm"]["hours"] == pytest.approx(8.4694e12 / 0.3e9 / 3600)
    assert jobs["download"]["by_source"]["stack_v2"]["hours"] == pytest.approx(5e8 / 300 / 3600)  # the fetch
    assert any(w.startswith("downloading source stack_v2 takes 463 h (19.3 days): 20 download_source jobs of "
                            "24 h on batch@dtn") for w in p["warnings"])
    # on the data-transfer nodes (slurm.clusters.dtn), checked against their policy, resumed job after job
    download = jobs["download"]
    assert (download["partition"], download["hours_requested"], download["policy_limit_hours"]) == ("batch@dtn", 24, 24)
    assert download["by_source"]["dclm"]["jobs"] == 1 and download["count"] == 5 + 20
    train = jobs["train_segment"]
    assert (train["count"], train["nodes"], train["hours_requested"], train["continuation_jobs"]) == (143, 64, 24, 0)
    for rule, job in jobs.items():
        if rule not in ("train_segment", "download"):     # both continue in the next job
            assert job["hours_estimated"] * 1.5 <= job["hours_requested"] <= job["policy_limit_hours"], rule


def test_too_few_shards_is_an_error_naming_the_minimum(config):
    config = copy.deepcopy(config)
    config["data"]["sources"]["dclm"]["shards"] = 512     # ~6.5B tokens a shard: 2.2 h for the largest at 1M tokens/s
    with pytest.raises(ConfigError, match=r"rule tokenize: estimated 2.18 h x safety 1.5 exceeds the 2 h requested"
                                          r".*data.sources.dclm.shards=512 -> at least 838"):
        plan.make_plan(config)


def test_mix_shard_too_big_for_its_job_names_rows_per_shard(config):
    config = copy.deepcopy(config)
    config["slurm"]["planner"]["rates"]["mix_shard"]["value"] = 100     # 2.9 h a shard
    with pytest.raises(ConfigError, match="rule mix_shard: .* lower data.mix.rows_per_shard"):
        plan.make_plan(config)


@pytest.mark.parametrize("path,key", [(("tokenize",), "slurm.planner.rates.tokenize"),
                                      (("eval_task", "MMLU"), "slurm.planner.rates.eval_task.MMLU")])
def test_zero_or_missing_rate_names_the_key(config, path, key):
    broken = copy.deepcopy(config)
    entry = broken["slurm"]["planner"]["rates"]
    for part in path[:-1]:
        entry = entry[part]
    entry[path[-1]]["value"] = 0
    with pytest.raises(ConfigError, match=f"{key}.value is 0; a rate must be > 0"):
        plan.make_plan(broken)
    del entry[path[-1]]
    with pytest.raises(ConfigError, match=f"{key} is not set"):
        plan.make_plan(broken)


def test_segment_longer_than_its_job_counts_continuations(config):
    config = copy.deepcopy(config)
    config["train"]["steps_per_segment"] = 4000          # 3,704 steps fit a 24 h job: 2 jobs a segment
    p = plan.make_plan(config)
    assert p["schedule"]["segments"] == 125 and p["schedule"]["jobs"] == 250
    assert p["jobs"]["train_segment"]["continuation_jobs"] == 125
    waits = plan.make_plan(config, queue_wait_hours=24)["schedule"]["calendar_days"] \
        - plan.make_plan(config, queue_wait_hours=0)["schedule"]["calendar_days"]
    assert waits == pytest.approx(250)                   # one queue wait per job, continuations included
    assert any("125 continuation jobs" in w for w in p["warnings"])


def _log_finished(path: Path, what: str, done: int, **counters: int) -> None:
    """A stage's own end-of-job line (cpt.progress.RateLogger) in a job log."""
    import logging

    from cpt.progress import RateLogger
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    logger = logging.getLogger("cpt")
    logger.addHandler(handler), logger.setLevel(logging.INFO)
    try:
        progress = RateLogger(what, done, "docs", interval=1e9)
        progress.start -= 10.0                             # as if the job ran 10 s
        progress.update(done, **counters)
        progress.finish()
    finally:
        logger.removeHandler(handler), handler.close()


def test_measured_rates_replace_config(config, tmp_path):
    for shard, tokens in enumerate([12_000_000, 18_000_000, 15_000_000]):     # 1.2M, 1.8M, 1.5M tokens/s
        _log_finished(tmp_path / "logs" / "tokenize" / "dclm" / f"{shard:05d}.log", "tokenize dclm", 100,
                      tokens=tokens)
    result = tmp_path / "eval" / "results" / "step-00003500" / "MMLU.json"
    result.parent.mkdir(parents=True)
    result.write_text(json.dumps({"status": "ok", "limit": None, "elapsed_s": 300 + 1404.2}))
    jobs = plan.make_plan(config, run_dir=tmp_path)["jobs"]
    assert jobs["tokenize"]["rate"]["value"] == pytest.approx(1_500_000, rel=0.01)
    assert jobs["tokenize"]["rate"]["from"].startswith("measured (3 logs")
    mmlu = jobs["eval_task"]["by_task"]["MMLU"]["rate"]
    assert mmlu["value"] == pytest.approx(14_042 / 1404.2) and mmlu["from"].startswith("measured")
    assert jobs["mix_shard"]["rate"]["from"].startswith("config")              # no mix_shard log yet


def write_listing_of(run_dir: Path, source: str, sizes: list[int]) -> None:
    """A source's listing and its fingerprint (file sizes), as list_source writes them."""
    listing = run_dir / "data" / "sources" / f"{source}.txt"
    listing.parent.mkdir(parents=True, exist_ok=True)
    paths = [f"contents/data/{i}.jsonl.gz" for i in range(len(sizes))]
    listing.write_text("".join(f"{p}\n" for p in paths))
    entries = [{"path": p, "bytes": b, "mtime_ns": 0} for p, b in zip(paths, sizes)]
    Path(f"{listing}.json").write_text(json.dumps(entries))


def test_a_source_with_fewer_files_than_shards_needed_is_an_error(config, tmp_path):
    write_listing_of(tmp_path, "stack_v2", [10**9] * 64)
    with pytest.raises(ConfigError, match="data.sources.stack_v2: 64 files but at least 125 tokenize shards"):
        plan.make_plan(config, run_dir=tmp_path)


def test_the_listing_measures_the_largest_shard(config, tmp_path):
    """Whole files balanced by bytes: 1,680 equal files in 168 shards are even; one file 14x the others
    makes its shard 14 units against a mean of 1,693 / 168 = 10.08 (1.39x), and the job's estimate follows."""
    write_listing_of(tmp_path, "stack_v2", [10**8] * 1680)
    even = plan.make_plan(config, run_dir=tmp_path)["jobs"]["tokenize"]["by_source"]["stack_v2"]
    assert even["largest_over_mean"] == 1.0 and even["files"] == 1680
    assert even["hours"] == pytest.approx(5e11 / 168 / 1e6 / 3600)
    write_listing_of(tmp_path, "stack_v2", [10**8] * 1679 + [14 * 10**8])
    skewed = plan.make_plan(config, run_dir=tmp_path)["jobs"]["tokenize"]["by_source"]["stack_v2"]
    assert skewed["largest_over_mean"] == pytest.approx(14 / (1693 / 168))
    assert skewed["hours"] == pytest.approx(even["hours"] * skewed["largest_over_mean"])


# --- data stage: node-hours charged, days, and the purge ---------------------------------------

def test_data_stage_of_the_reference_plan_by_hand(config):
    p = plan.make_plan(config)
    d, jobs, sources = p["data_stage"], p["jobs"], config["data"]["sources"]
    sizes = config["slurm"]["planner"]["sources"]
    groups = {name: -(-spec["shards"] // 56) for name, spec in sources.items()}
    tokenize = {name: sizes[name]["tokens"] / spec["shards"] * 1.2 / 1e6 / 3600 for name, spec in sources.items()}
    mix = jobs["mix_shard"]["hours_estimated"]           # packing + Orion reads (test above)
    assert d["node_jobs"] == {"tokenize": 30, "mix_shard": 12}
    assert d["node_hours_charged"] == pytest.approx(sum(groups[n] * tokenize[n] for n in sources) + 12 * mix)
    assert d["node_hours_charged"] < 50                  # one-core jobs: ~1,960; single-document reads: 67
    tokens = sum(s["tokens"] for s in sizes.values())
    assert d["core_hours"] == pytest.approx(tokens / 1e6 / 3600 + 678_720_000 / 500 / 3600)
    # waves of 4 eligible batch jobs, each waiting slurm.planner.data_queue_wait_hours (2 h), longest first
    tokenize_jobs = sorted((tokenize[n] for n in sources for _ in range(groups[n])), reverse=True)
    tokenize_hours = sum(2 + tokenize_jobs[i] for i in range(0, 30, 4))
    assert d["tokenize_days"] == pytest.approx(tokenize_hours / 24)
    assert d["mix_days"] == pytest.approx(3 * (2 + mix) / 24)
    assert d["batch_days"] == pytest.approx(d["tokenize_days"] + d["mix_days"]) and d["batch_days"] < 2
    # one running DTN job: the downloads one after another, each of their 25 jobs waiting 2 h
    download = sum(s["hours"] for s in jobs["download"]["by_source"].values())
    assert d["download_days"] == pytest.approx((download + 25 * 2) / 24)
    final_eval = 2 + jobs["eval_export"]["hours_estimated"] + p["evaluation"]["hours_per_node_job"]
    assert d["calendar_days_total"] == pytest.approx(d["download_days"] + d["batch_days"] + final_eval / 24
                                                     + p["schedule"]["calendar_days"])
    assert d["waits_days"]["raw"] == pytest.approx(d["download_days"] + d["tokenize_days"])
    assert max(d["waits_days"].values()) < config["slurm"]["planner"]["purge_days"]
    assert "data stage        30 tokenize + 12 mix node jobs" in plan.render(p)


def test_waves_of_eligible_jobs():
    from cpt.plan.data_stage import waves
    assert waves([3, 1, 2, 2, 1], 2, 0.5) == (0.5 + 3) + (0.5 + 2) + (0.5 + 1)


def test_a_download_longer_than_the_purge_is_refused_naming_the_source_and_rate(config):
    """At 50 requests/s the Stack-v2 fetch takes 116 days (126 with the other downloads and 121 DTN queue
    waits): its first files would be purged before tokenize reads them."""
    config = copy.deepcopy(config)
    config["data"]["sources"]["stack_v2"]["content_fetch"]["requests_per_second"] = 50
    with pytest.raises(ConfigError, match=r"source stack_v2: the downloads take 126.3 days one after another on the "
                                          r"DTN .* wait 127.4 days; raise "
                                          r"data.sources.stack_v2.content_fetch.requests_per_second"):
        plan.make_plan(config)


# --- storage: each kind's size and the peak over the timeline -----------------------------------

def test_storage_of_the_reference_plan_by_hand(config):
    p = plan.make_plan(config)
    bill, params = p["storage"], p["params"]
    raw_bytes = 8.4694e12 + 3.4905e12 + 6.682e11 + 4.524e11 + 6.5039196945e10 + 1e12
    assert bill["raw_tb"] == pytest.approx(raw_bytes / 1e12)
    tokens = 3.348942e12 + 1.3192e12 + 2.384e11 + 1.636e11 + 5e11 + 3.4e10
    documents = 2.5905e9 + 1.2791e9 + 4.456e8 + 2.477e8 + 5e8 + 2.140561e7
    assert bill["tokenized_tb"] == pytest.approx((4 * tokens + 100 * documents) / 1e12)
    assert bill["mixed_tb"] == pytest.approx(678_720_000 * 8193 * 4 / 1e12)          # 22.2 TB of packed rows
    # kept at the end: 143 segment ends (= keep_every multiples), the keep_last=2 newest (499,500 and
    # 500,000), step 0. Weights-only except the newest two: 2 x 12 B/param + 143 x 4 B/param.
    assert bill["checkpoints"] == {"full": 2, "weights_only": 143}
    assert bill["checkpoints_tb"] == pytest.approx((2 * 12 + 143 * 4) * params / 1e12)
    assert bill["exports_tb"] == pytest.approx(2 * 2 * params / 1e12)                  # 2 in flight, bf16
    t = bill["timeline_tb"]                              # data.cleanup on: raw and tokenized gone by training
    assert t["mix"] == pytest.approx(bill["tokenized_tb"] + bill["mixed_tb"])
    assert t["train"] == pytest.approx(bill["mixed_tb"] + bill["checkpoints_tb"] + bill["exports_tb"])
    assert bill["total_tb"] == max(t.values()) == t["mix"] < 50


def test_storage_policy_off_keeps_every_optimizer_state_and_export(config):
    config = copy.deepcopy(config)
    config["train"]["checkpoint"]["weights_only_older"] = False
    config["eval"]["remove_exports"] = False
    config["data"]["cleanup"] = {"raw": False, "tokenized": False}
    p = plan.make_plan(config)
    bill = p["storage"]
    assert bill["checkpoints"] == {"full": 144, "weights_only": 1}
    assert bill["exports_tb"] == pytest.approx(143 * 2 * p["params"] / 1e12)
    assert bill["total_tb"] > 70
    assert any(w.startswith("storage peaks at") and "train.checkpoint.weights_only_older" in w
               for w in p["warnings"])


def test_without_cleanup_the_peak_is_at_the_end_of_training_and_over_quota(config):
    config = copy.deepcopy(config)
    config["data"]["cleanup"] = {"raw": False, "tokenized": False}
    p = plan.make_plan(config)
    bill = p["storage"]
    assert bill["peak_after"] == "train"                 # everything still there, plus the checkpoints
    assert bill["total_tb"] == pytest.approx(bill["raw_tb"] + bill["tokenized_tb"] + bill["mixed_tb"]
                                             + bill["checkpoints_tb"] + bill["exports_tb"])
    assert any("turn on data.cleanup.raw, data.cleanup.tokenized" in w for w in p["warnings"])


@pytest.mark.slow  # the 8B model at world size 512 on a fake process group: ~3-4 min of one CPU core
def test_reference_trace_fits_and_the_model_is_within_15_percent(config):
    p = plan.make_plan(config, trace_memory=True)
    traced = p["memory_traced_gb"]
    assert traced["compile"] is False and traced["micro_batch"] == config["train"]["local_batch"]   # micro_batch null
    assert traced["peak"] <= 0.9 * 64
    assert p["memory_gb"]["total"] == pytest.approx(traced["peak"], rel=0.15)
