"""Candidate layouts in the plan (cpt/plan/layouts.py): every mesh, micro-batch and checkpointing mode
of the run's ranks at the same global batch, with memory, fits and a step time worked out by hand; the
sweep that measures the fastest (cpt/plan/sweep.py): its choice, price, refusals and measured table."""

import copy
import json
from pathlib import Path

import pytest

from cpt import plan
from cpt.checks.config import load_config
from cpt.plan import layouts, sweep, sweep_table
from cpt.plan.__main__ import main
from cpt.settings import ConfigError
from cpt.train.model import ModelArgs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def config() -> dict:
    return load_config([str(ROOT / "config.yaml")])


@pytest.fixture(scope="module")
def table(config) -> dict:
    return plan.make_plan(config)["layouts"]


def row(table: dict, **keys) -> dict:
    (found,) = [r for r in table["rows"] if all(r[k] == v for k, v in keys.items())]
    return found


def test_reference_layouts_keep_the_global_batch_and_mark_the_configured_one(config, table):
    rows = table["rows"]
    # 1344 rows = 2^6 x 21: only 64 DP ranks (tp 8) divide them; 7 replicate/shard splits x 4 micro-batches x 3 modes
    assert len(rows) == 84 and table["nodes"] == 64
    assert [s.split(":")[0] for s in table["skipped"]] == ["tp=1", "tp=2", "tp=4"]
    for r in rows:
        assert r["dp_replicate"] * r["dp_shard"] * r["tp"] == 512
        assert r["local_batch"] * r["dp_replicate"] * r["dp_shard"] == 1344 and r["local_batch"] % r["micro_batch"] == 0
        assert r["fits"] == (r["memory_gb"] <= 57.6) and r["seconds_per_step"] > 0
    (own,) = [r for r in rows if r["configured"]]
    assert (own["dp_replicate"], own["dp_shard"], own["tp"], own["micro_batch"], own["activation_checkpointing"]) == \
        (2, 32, 8, 21, "full")
    assert own["memory_gb"] == pytest.approx(plan.make_plan(config)["memory_gb"]["total"])
    fitting = [r for r in rows if r["fits"]]
    assert rows[:len(fitting)] == fitting and 5 <= len(fitting) < len(rows)
    times = [r["seconds_per_step"] for r in fitting]
    assert all(b >= a * 0.995 for a, b in zip(times, times[1:]))  # ties within 0.5% go by memory
    assert [r["rank"] for r in rows] == list(range(1, 85))
    assert all(entry["source"] for entry in table["constants"].values())


def test_step_time_of_the_configured_layout_by_hand(config, table):
    own = row(table, configured=True)
    shape = config["slurm"]["planner"]["model"]
    hf = {"rms_norm_eps": 1e-5, "rope_theta": 5e5, **shape}
    flops, block_forward = layouts.flops_per_token(shape, 8192)
    assert flops == ModelArgs.from_hf_config(hf).flops_per_token(8192)  # the trainer's MFU count
    block = 2 * 4096 + 2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336
    assert block_forward == 2 * (block - 2 * 4096) + 4 * 32 * 128 * 8192
    tokens = 1344 * 8192 / 512
    assert own["compute_s"] == pytest.approx(tokens * (flops + 32 * block_forward) / (191.5e12 * 0.38))
    # 4 collectives per block and 2 more per pass, forward and backward, 4 per recomputed block; 7/8 moves
    assert own["tp_s"] == pytest.approx(21 * 8192 * 4096 * 2 * 7 / 8 * (8 * 32 + 4 + 4 * 32) / 1e9 / 50)
    params = 8_030_261_248 / 8
    # one pass: bf16 gathers in forward and backward, an fp32 reduce-scatter; Slingshot's 100 GB/s over 8 ranks
    assert own["fsdp_s"] == pytest.approx(params * (2 + 2 + 4) * 31 / 32 / 1e9 / 12.5)
    assert own["replicate_s"] == pytest.approx(2 * params / 32 * 4 * 1 / 2 / 1e9 / 12.5)
    assert own["seconds_per_step"] == pytest.approx(own["compute_s"] + own["tp_s"] + own["fsdp_s"] + own["replicate_s"])
    # seven passes of 3 rows: seven times the FSDP traffic
    assert row(table, dp_shard=32, micro_batch=3, activation_checkpointing="full")["fsdp_s"] == \
        pytest.approx(7 * own["fsdp_s"])


def test_checkpointing_trades_memory_for_time(table):
    modes = [row(table, dp_shard=32, micro_batch=3, activation_checkpointing=m) for m in ("none", "selective", "full")]
    memory, seconds = ([r[key] for r in modes] for key in ("memory_gb", "seconds_per_step"))
    assert memory == sorted(memory, reverse=True) and seconds == sorted(seconds) and len(set(seconds)) == 3


def test_constants_are_the_configs_and_a_missing_one_is_named(config):
    faster = copy.deepcopy(config)
    faster["slurm"]["planner"]["layouts"]["network_gb_s"]["value"] = 1000
    shape, nodes = config["slurm"]["planner"]["model"], 64
    base = row(layouts.layouts(config, shape, nodes, 10, (1.0, "test")), configured=True)
    fast = row(layouts.layouts(faster, shape, nodes, 10, (1.0, "test")), configured=True)
    assert fast["fsdp_s"] == pytest.approx(base["fsdp_s"] / 10) and fast["tp_s"] == base["tp_s"]
    del faster["slurm"]["planner"]["layouts"]["mfu"]
    with pytest.raises(ConfigError, match=r"slurm.planner.layouts.mfu is None; give \{value"):
        layouts.layouts(faster, shape, nodes, 10, (1.0, "test"))


def test_cli_prints_the_ranked_table_with_its_sources(tmp_path, capsys):
    assert main([str(ROOT / "config.yaml"), "--layouts", "--json", str(tmp_path / "plan.json")]) == 0
    out = capsys.readouterr().out
    assert "<- configured" in out and "arXiv:2312.12705" in out and "Frontier User Guide" in out
    assert "skipped: tp=4: its 128 DP ranks do not divide the global batch of 1344 rows" in out
    assert len(json.loads((tmp_path / "plan.json").read_text())["layouts"]["rows"]) == 84
    assert main([str(ROOT / "config.yaml")]) == 0
    out = capsys.readouterr().out
    assert "<- configured" not in out and "fastest modelled that fits: 1 x 64 x 8, micro-batch 3 of 21" in out


def test_sweep_takes_the_fastest_that_fit_and_the_configured_and_prices_them(config, table):
    picked = [sweep.name(r) for r in sweep.chosen(table, 4)]
    assert picked[:4] == [sweep.name(r) for r in table["rows"][:4]] and picked[4] == "r2-s32-t8-m21-full"
    bill = plan.make_plan(config)["sweep"]
    assert bill["layouts"] == picked and bill["steps"] == 15 and bill["nodes"] == 64
    hours = [20 / 60 + 15 * row(table, **sweep_keys(n))["seconds_per_step"] / 3600 for n in picked]
    assert bill["node_hours"] == pytest.approx(64 * sum(hours))
    assert bill["share_of_run"] < 0.002  # the goal: 145 of ~207,000 node-hours
    with pytest.raises(ConfigError, match=r"sweep: layout r2-s32-t8-m21-none does not fit: modelled 29\d\.\d GB"):
        sweep.train_section(config, table, "r2-s32-t8-m21-none")
    with pytest.raises(ConfigError, match="'r3-s1-t1-m1-none' is not a layout of this run's 512 ranks"):
        sweep.train_section(config, table, "r3-s1-t1-m1-none")
    assert sweep.train_section(config, table, "r1-s64-t8-m3-none")["parallel"] == {"dp_replicate": 1, "dp_shard": 64,
                                                                                   "tp": 8}


def sweep_keys(layout: str) -> dict:
    r, s, t, m, mode = layout.split("-")
    return {"dp_replicate": int(r[1:]), "dp_shard": int(s[1:]), "tp": int(t[1:]), "micro_batch": int(m[1:]),
            "activation_checkpointing": mode}


def test_measured_sweep_shows_the_fastest_layout_with_its_savings_and_keys(config, tmp_path):
    records = [{"layout": "r2-s32-t8-m21-full", "seconds_per_step": 23.0, "tokens_per_s_per_gcd": 935.0,
                "mfu": 0.28, "memory_peak_gb": 17.0},
               {"layout": "r1-s64-t8-m3-none", "seconds_per_step": 20.7, "tokens_per_s_per_gcd": 1039.0,
                "mfu": 0.31, "memory_peak_gb": 47.0}]
    run_dir = tmp_path / config["run"]
    paths = [tmp_path / f"{r['layout']}.json" for r in records]
    for path, record in zip(paths, records):
        path.write_text(json.dumps(record))
    assert sweep_table.main([*map(str, paths), "--config-json", json.dumps(config), "--out-dir",
                             str(run_dir / "sweep")]) == 0
    assert {p.name for p in (run_dir / "sweep").iterdir()} == {"table.csv", "table.md", "plot.png"}
    assert "| r1-s64-t8-m3-none | 20.7 |" in (run_dir / "sweep" / "table.md").read_text()
    p = plan.make_plan(config, run_dir=run_dir)
    m = p["sweep"]["measured"]
    assert m["keys"] == {"train.parallel.dp_replicate": 1, "train.parallel.dp_shard": 64, "train.micro_batch": 3,
                         "train.activation_checkpointing": "none"}
    # 10% faster steps: 10% of the training node-hours (steps only; the segment overhead stays)
    assert m["node_hours_saved"] == pytest.approx(500_000 * 2.3 / 3600 * 64)
    assert m["days_saved"] > 10
    text = plan.render(p)
    assert "fastest r1-s64-t8-m3-none 20.7 s/step vs configured r2-s32-t8-m21-full 23 s" in text
    assert "set train.parallel.dp_replicate: 1, train.parallel.dp_shard: 64" in text


def test_a_sweep_job_longer_than_its_request_is_refused_and_the_plan_warns(config, table):
    long = copy.deepcopy(config)
    long["sweep"]["steps"] = 300  # 305 steps of up to 32.7 s and 20 min start-up: 3.1 h, over 2 h / 1.5
    with pytest.raises(ConfigError, match=r"sweep: r1-s64-t8-m3-none, .* need up to 3\.10 h x slurm.planner.safety="
                                          r"1\.5 but slurm.resources.sweep_layout.hours=2; raise the hours"):
        sweep.check(long, table)
    assert any(w.startswith("sweep: r1-s64-t8-m3-none") for w in plan.make_plan(long)["warnings"])
    assert len(sweep.check(config, table)) == 5
