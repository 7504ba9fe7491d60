"""The checks' contract beyond the catalogue: every error of a config in one report, green
reference and demo configs, hub sources pending (not errors), jobs skipping the expensive
checks, the lm-eval index rebuilt when a task YAML changes, warnings in the plan JSON."""

import copy
import json

import pytest
import yaml
from checks_helpers import BASES, ROOT, overlay_paths

from cpt import checks, plan
from cpt.checks import task_index
from cpt.checks.findings import Findings
from cpt.checks.config import load_config

SEVEN_MISTAKES = """
trian: {steps: 1}
data: {seq_len: 262144}
train: {steps: 600000, parallel: {dp_replicate: 1, dp_shard: 125, tp: 4}}
eval:
  every: 3000
  tasks:
    - {name: MMLU, task: mmlu, metric: acc_norm}
    - {name: W, task: winogrand}
"""


def test_every_error_of_a_config_is_reported_at_once(tmp_path, corpora):
    with pytest.raises(checks.ConfigErrors) as caught:
        load_config(overlay_paths(tmp_path, "ref", SEVEN_MISTAKES, corpora))
    keys = {e.key for e in caught.value.errors}
    assert keys == {"trian", "data.seq_len", "train.steps", "train.parallel", "eval.every",
                    "eval.tasks[0].metric", "eval.tasks[1].task"}
    message = str(caught.value)
    assert message.startswith("7 config errors in ")
    assert len(message.splitlines()) == 1 + 3 * 7  # a header, then key / rule / fix per error


@pytest.mark.parametrize("base", ["ref", "demo"])
def test_reference_and_demo_configs_load_clean(base):
    config = load_config([str(p) for p in BASES[base]])
    findings = checks.run(config)
    assert findings.errors == []
    # nothing is downloaded in a checkout: the model and every hub source are pending, not errors
    assert any(p.startswith("model.hub:") for p in findings.pending)
    assert sum(p.startswith("data.sources.") for p in findings.pending) == len(config["data"]["sources"])


def test_downloaded_model_config_json_is_preferred_and_named(tmp_path):
    from cpt.demo.base_model import TINY_LLAMA

    (tmp_path / "config.json").write_text(json.dumps(TINY_LLAMA))  # 4 heads, 2 KV heads, 1024 positions
    config = load_config([str(p) for p in BASES["demo"]])
    config["model"]["base_dir"] = str(tmp_path)
    config["data"]["seq_len"] = 2048
    findings = checks.run(config)
    by_key = {e.key: e for e in findings.errors}
    assert "max_position_embeddings=1024" in by_key["data.seq_len"].rule
    assert str(tmp_path / "config.json") in by_key["data.seq_len"].rule
    assert not any(p.startswith("model.hub:") for p in findings.pending)


def test_a_hub_source_is_checked_once_its_files_are_there(tmp_path, corpora):
    config = load_config([str(p) for p in BASES["demo"]])
    config["data"]["sources"]["finemath"].update(local_dir=str(corpora / "parquet"), glob="*.parquet")
    findings = checks.run(config)
    assert not any(p.startswith("data.sources.finemath") for p in findings.pending)
    assert findings.errors == []


def test_jobs_run_only_the_schema(tmp_path, corpora):
    """Snakemake re-parses the workflow inside every job: no task index, no parquet footers there."""
    overlay = "eval: {tasks: [{name: W, task: winogrand}]}\n"
    config = {}
    from snakemake.utils import update_config

    for path in overlay_paths(tmp_path, "ref", overlay, corpora):
        update_config(config, yaml.safe_load(open(path)))
    assert checks.load(copy.deepcopy(config), "job", in_job=True).errors == []
    with pytest.raises(checks.ConfigErrors, match=r"eval\.tasks\[0\]\.task"):
        checks.load(config, "controller")


def test_schema_errors_still_stop_a_job():
    config = load_config([str(p) for p in BASES["demo"]])
    config["train"]["parallel"]["tp"] = "two"
    with pytest.raises(checks.ConfigErrors, match=r"train\.parallel\.tp = 'two'"):
        checks.load(config, "job", in_job=True)


def test_task_index_rebuilds_an_include_dir_whose_yaml_changed(tmp_path, monkeypatch):
    task_index.load([])  # lm-eval's own tasks: built once per version in the user cache
    builtin = task_index.cache_dir() / f"lm-eval-{task_index.lm_eval_version()}-tasks.json"
    monkeypatch.setenv("CPT_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / builtin.name).write_bytes(builtin.read_bytes())
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    spec = {"task": "my_task", "dataset_path": "json", "output_type": "multiple_choice",
            "doc_to_text": "q", "doc_to_choice": ["a", "b"], "doc_to_target": 0, "test_split": "test",
            "metric_list": [{"metric": "acc"}]}
    (tasks / "my_task.yaml").write_text(yaml.safe_dump(spec))
    assert task_index.load([tasks])["my_task"] == {"kind": "task", "metrics": ["acc"]}
    spec["metric_list"] = [{"metric": "acc_norm"}]
    (tasks / "my_task.yaml").write_text(yaml.safe_dump(spec) + "# edited\n")
    assert task_index.load([tasks])["my_task"]["metrics"] == ["acc_norm"]
    assert task_index.load([tasks])["mmlu"]["kind"] == "group"


def test_likely_wrong_values_are_warnings_in_the_plan():
    config = load_config([str(ROOT / "config.yaml")])
    config["train"]["steps"] = 400_000  # decays to 0 only at 500,000: legal, likely wrong
    warnings = plan.warnings(plan.make_plan(config), config)
    assert any(w.startswith("train.schedule.decay_end_step=500000:") and "20% of its peak" in w for w in warnings)


def test_findings_render_at_most_five_lines():
    findings = Findings()
    findings.error("a.b", "x" * 500, "rule", "fix")
    assert len(findings.errors[0].render().splitlines()) == 3
    assert len(findings.errors[0].render().splitlines()[0]) < 100


def test_cli_exits_1_listing_the_errors(tmp_path, corpora, capsys):
    from cpt.checks.__main__ import main

    assert main(overlay_paths(tmp_path, "demo", "train: {steps: 700}\n", corpora)) == 1
    assert "train.steps = 700" in capsys.readouterr().err
    assert main([str(p) for p in BASES["demo"]]) == 0
    assert "config check pending: model.hub:" in capsys.readouterr().err


def test_clis_take_config_files_as_snakemake_configfile_does(monkeypatch):
    """config.yaml is the base unless the first file is a complete config (configs/demo.yaml is not)."""
    from cpt.checks.config import config_files

    monkeypatch.chdir(ROOT)
    assert config_files(["configs/demo.yaml"]) == ["config.yaml", "configs/demo.yaml"]
    assert config_files(["config.yaml", "configs/demo.yaml"]) == ["config.yaml", "configs/demo.yaml"]
    assert config_files([]) == ["config.yaml"]
    assert load_config(["configs/demo.yaml"])["run"] == load_config(["config.yaml", "configs/demo.yaml"])["run"]


@pytest.mark.parametrize("cli", ["cpt.plan", "cpt.status"])
def test_a_config_error_is_printed_once_without_a_traceback(cli, tmp_path, monkeypatch, capsys):
    import importlib

    monkeypatch.chdir(ROOT)
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {steps: -3}\nbogus: 1\n")
    code = importlib.import_module(f"{cli}.__main__").main([str(bad)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert err.count("train.steps") == 1 and err.count("bogus") == 1, err
