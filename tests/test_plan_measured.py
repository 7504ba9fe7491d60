"""The planner takes seconds per step and memory from benchmarks/gpu_train.py's JSON (written by the
benchmark's own record() and writer): labelled as measured, applied only to the same shape and
recipe, a one-GPU layout's memory used as the plan's only where the run's layout is that one; and
the memory model at that layout (tied Llama-3.2-1B) against the fake-mode trace."""

import copy
import json
import statistics
from pathlib import Path

import pytest
from benchmark_module import load_benchmark
from cpt.checks.config import load_config
from cpt import plan
from cpt.atomic import write_json
from cpt.plan.__main__ import main as plan_main
from cpt.settings import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SHAPE = "llama-3.2-1b"
TRAINER_TIMES, BARE_TIMES = [0.61, 0.60, 0.63, 0.62, 0.60], [0.59, 0.60, 0.58, 0.61, 0.60]


@pytest.fixture(scope="module")
def gpu_train():
    return load_benchmark("gpu_train")


@pytest.fixture(scope="module")
def config(gpu_train) -> dict:
    """The reference config with the benchmark's 1B shape as its model (no base model downloaded)."""
    config = load_config([str(ROOT / "config.yaml")])
    config["model"]["base_dir"] = "/nonexistent/base"
    config["slurm"]["planner"]["model"] = gpu_train.SHAPES[SHAPE]
    return config


def bench_json(gpu_train, path: Path, *, peak_gb: float = 31.5, argv: tuple = ()) -> Path:
    """What `python benchmarks/gpu_train.py --shape llama-3.2-1b --json path` writes, from given step times."""
    ns = gpu_train.parse_args(["--shape", SHAPE, *argv])
    cfg = gpu_train.train_config(ns)
    result = gpu_train.record(SHAPE, cfg, ns.seq_len, gpu="NVIDIA H200", peak=gpu_train.peak_tflops("NVIDIA H200"),
                              attention_used="gqa", trainer=(TRAINER_TIMES, peak_gb), bare=(BARE_TIMES, 30.9))
    write_json(path, result)
    return path


def one_gpu(config: dict) -> dict:
    config = copy.deepcopy(config)
    config["train"].update(parallel={"dp_replicate": 1, "dp_shard": 1, "tp": 1}, local_batch=1, micro_batch=None)
    return config


def test_the_reference_layout_takes_the_measured_rate_and_keeps_modelled_memory(gpu_train, config, tmp_path):
    path = bench_json(gpu_train, tmp_path / "gpu_train.json")
    p = plan.make_plan(config, gpu_benchmark=path)
    rate = 8192 / statistics.median(TRAINER_TIMES)              # one 8,192-token row per step on one GPU
    assert p["gpu_benchmark"]["tokens_per_s_per_gpu"] == pytest.approx(rate)
    assert p["seconds_per_step"] == pytest.approx(21 * 8192 / 8 / rate)   # a GCD's share: 21 rows over TP=8
    assert p["seconds_per_step_from"].startswith(f"measured: {path}, NVIDIA H200, {SHAPE}, 1 x 8192 tokens on 1 GPU")
    steps = config["train"]["steps_per_segment"]
    overhead = config["slurm"]["planner"]["segment_overhead_minutes"] / 60
    assert p["schedule"]["segment_hours"] == pytest.approx(steps * p["seconds_per_step"] / 3600 + overhead)
    bench = p["gpu_benchmark"]
    assert bench["same_layout"] is False and bench["memory_gb"] == 31.5
    at_one_gpu = plan.memory_per_gcd(one_gpu(config), config["slurm"]["planner"]["model"])["total"]
    assert bench["memory_modelled_gb"] == pytest.approx(at_one_gpu)
    assert p["memory_gb"]["total"] < at_one_gpu                  # the plan's memory: modelled at 512 GCDs
    assert any("512-rank communication" in w and "NVIDIA H200" in w for w in p["warnings"])
    text = plan.render(p)
    assert "measured peak (max_memory_allocated), NVIDIA H200" in text and "communication not included" in text


def test_an_earlier_runs_metrics_take_precedence(gpu_train, config, tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps({"step": i, "step_time_s": 9.0}) + "\n" for i in range(3)))
    p = plan.make_plan(config, metrics=metrics, gpu_benchmark=bench_json(gpu_train, tmp_path / "b.json"))
    assert p["seconds_per_step"] == 9.0 and str(metrics) in p["seconds_per_step_from"]


def test_the_benchmarks_own_layout_uses_the_measured_peak_and_refuses_it_over_hbm(gpu_train, config, tmp_path, capsys):
    config = one_gpu(config)
    p = plan.make_plan(config, gpu_benchmark=bench_json(gpu_train, tmp_path / "fits.json"))
    assert p["seconds_per_step"] == pytest.approx(statistics.median(TRAINER_TIMES))
    assert p["gpu_benchmark"]["same_layout"] is True
    assert not any("communication" in w for w in p["warnings"])
    with pytest.raises(ConfigError, match=r"measured peak 70\.0 GB at train.micro_batch=1 exceeds"):
        plan.make_plan(config, gpu_benchmark=bench_json(gpu_train, tmp_path / "over.json", peak_gb=70.0))
    accumulating = copy.deepcopy(config)                         # 2 passes of 1 row: earlier gradients too
    accumulating["train"].update(local_batch=2, micro_batch=1)
    assert not plan.make_plan(accumulating, gpu_benchmark=tmp_path / "fits.json")["gpu_benchmark"]["same_layout"]


def test_another_shape_or_context_is_refused_not_scaled(gpu_train, tmp_path):
    reference = load_config([str(ROOT / "config.yaml")])   # the 8B
    path = bench_json(gpu_train, tmp_path / "one_b.json", argv=("--seq-len", "4096"))
    with pytest.raises(ConfigError) as err:
        plan.make_plan(reference, gpu_benchmark=path)
    message = str(err.value)
    assert message.startswith(str(path)) and "not scaled" in message
    assert "hidden_size: benchmark 2048, config 4096" in message
    assert "tie_word_embeddings: benchmark True, config False" in message
    assert "seq_len: benchmark 4096, config data.seq_len 8192" in message


@pytest.mark.parametrize("edit,field", [(lambda r: r.pop("seconds_per_step"), "'seconds_per_step' is None"),
                                        (lambda r: r.update(memory_per_gpu_gb="31"), "'memory_per_gpu_gb' is '31'"),
                                        (lambda r: r.update(format="other/2"), "'format' is 'other/2'")])
def test_a_bad_file_is_an_error_naming_file_and_field(gpu_train, config, tmp_path, edit, field):
    path = bench_json(gpu_train, tmp_path / "bad.json")
    record = json.loads(path.read_text())
    edit(record)
    path.write_text(json.dumps(record))
    with pytest.raises(ConfigError, match=f"{path}: field {field}"):
        plan.make_plan(config, gpu_benchmark=path)


def test_the_trainer_half_alone_is_the_planners_input_from_the_one_peak_table(gpu_train, config, tmp_path):
    """gpu_train.py writes its JSON after the trainer half too: a timeout in the bare half keeps the planner's input."""
    from cpt.train import metrics

    ns = gpu_train.parse_args(["--shape", SHAPE])
    half = gpu_train.record(SHAPE, gpu_train.train_config(ns), ns.seq_len, gpu="NVIDIA H200", peak=989.0,
                            attention_used="gqa", trainer=(TRAINER_TIMES, 31.5), bare=None)
    assert half["bare"] is None and half["ratio"] is None and half["trainer"]["mfu"] > 0
    write_json(tmp_path / "half.json", half)
    full = plan.make_plan(config, gpu_benchmark=bench_json(gpu_train, tmp_path / "full.json"))["gpu_benchmark"]
    half_plan = plan.make_plan(config, gpu_benchmark=tmp_path / "half.json")["gpu_benchmark"]
    assert half_plan == {**full, "file": str(tmp_path / "half.json")}
    assert gpu_train.peak_tflops is metrics.peak_tflops


def test_command_line_and_config_key(gpu_train, config, tmp_path, capsys):
    path = bench_json(gpu_train, tmp_path / "gpu_train.json")
    with_key = copy.deepcopy(config)
    with_key["slurm"]["planner"]["gpu_benchmark"] = str(path)
    assert plan.make_plan(with_key)["gpu_benchmark"]["file"] == str(path)
    config_json = json.dumps({**config, "results_dir": str(tmp_path)})
    assert plan_main(["--config-json", config_json, "--measured", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"(measured: {path}, NVIDIA H200" in out
    assert plan_main(["--config-json", config_json, "--measured", str(tmp_path / "missing.json")]) == 1
    assert "GPU benchmark file not found" in capsys.readouterr().err


@pytest.mark.slow  # Llama-3.2-1B at 8,192 tokens on a fake process group: ~40 s of one CPU core
def test_tied_1b_at_the_benchmarks_layout_model_agrees_with_the_trace(config):
    """What the GPU benchmark will measure, traced on CPU: the tied matrix is one parameter in the
    root unit (gathered once, not twice), and the model is within 10% of the trace."""
    p = plan.make_plan(one_gpu(config), trace_memory=True)
    modelled, traced = p["memory_gb"], p["memory_traced_gb"]
    print(f"\ntied 1B, one GPU, 1 x 8192: modelled {modelled['total']:.2f} GB, traced {traced['peak']:.2f} GB "
          f"in {traced['seconds']:.0f} s")
    assert modelled["total"] == pytest.approx(traced["peak"], rel=0.10)
    assert modelled["FSDP gathered params + grad buffers"] == pytest.approx(traced["by_kind"]["Unsharded Param"],
                                                                           rel=0.01)
