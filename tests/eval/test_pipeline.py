"""The eval and report rules end to end through Snakemake, on checkpoints imported from a tiny base,
and eval.remove_exports on the same finished run (the last test: it deletes the step-300 export).

The final checkpoint is the base model imported as DCP and copied to step 300
(where the trainer's last segment would leave it), so it must score exactly
what the base scores: the export round trip is lossless.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_run import link_workflow, snakemake

ARITH = {"name": "Arith", "task": "cpt_demo_arith", "num_fewshot": 0, "metric": "acc"}
COUNT = {"name": "Count", "task": "cpt_demo_count", "num_fewshot": 2, "metric": "acc_norm"}


def run(work, target, *options, overlays):
    """Snakemake in `work` on the demo config plus `overlays`; returns what it printed."""
    return snakemake(work, "--cores", "2", *options, "--configfile", "configs/demo.yaml", *map(str, overlays),
                     "--", target).stdout


def overlay(path: Path, results: Path, base: Path, tasks: list[dict], **eval_options) -> Path:
    path.write_text(yaml.safe_dump({"results_dir": str(results), "model": {"base_dir": str(base)},
                                    "eval": {"every": 300, "limit": 16, "tasks": tasks, **eval_options}}))
    return path


@pytest.fixture(scope="module")
def evaluated(tiny_model, tmp_path_factory):
    """A finished eval + report of steps 0 and 300 (the demo's final step) on the Arith task."""
    tmp = tmp_path_factory.mktemp("pipeline")
    results = tmp / "results"
    checkpoints = results / "demo" / "train" / "checkpoints"
    subprocess.run([sys.executable, "-m", "cpt.convert.import_base", "--base-dir", str(tiny_model),
                    "--checkpoints", str(checkpoints)], check=True, capture_output=True)
    shutil.copytree(checkpoints / "step-00000000", checkpoints / "step-00000300")
    # what train_segment writes once its step is trained (cpt.chain): evals depend on it
    segments = checkpoints.parent / "segments"
    segments.mkdir(parents=True)
    (segments / "step-00000300.json").write_text(json.dumps({"step": 300}))
    config = overlay(tmp / "overlay.yaml", results, tiny_model, [ARITH])
    work = link_workflow(tmp / "work")
    run(work, "report", overlays=[config])
    return work, results / "demo", config


@pytest.mark.slow
def test_every_step_scores_what_the_base_scores(evaluated):
    _, run_dir, _ = evaluated
    records = [json.loads((run_dir / f"eval/results/step-{s:08d}/Arith.json").read_text())
               for s in (0, 300)]
    assert [r["status"] for r in records] == ["ok"] * 2
    assert records[0]["value"] == records[1]["value"]
    assert records[1]["model_dir"].endswith("eval/models/step-00000300")
    assert "Problems\n\nnone" in (run_dir / "report/results.md").read_text()


@pytest.mark.slow
def test_export_has_the_base_models_logits(evaluated, tiny_model):
    import torch
    from transformers import AutoModelForCausalLM

    _, run_dir, _ = evaluated
    ids = torch.arange(20).unsqueeze(0)
    base, export = (AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
                    for d in (tiny_model, run_dir / "eval/models/step-00000300"))
    with torch.no_grad():
        assert torch.equal(base(ids).logits, export(ids).logits)


@pytest.mark.slow
def test_adding_a_task_reruns_only_its_jobs(evaluated, tiny_model):
    work, run_dir, _ = evaluated
    more = overlay(work / "more.yaml", run_dir.parent, tiny_model, [ARITH, COUNT])
    plan = run(work, "report", "-n", overlays=[more])
    stats = plan[plan.index("Job stats:"):].split("\n\n")[0].splitlines()[3:]
    counts = {line.split()[0]: int(line.split()[1]) for line in stats}
    assert counts == {"eval_prefetch": 1, "eval_task": 2, "report_tables": 1, "report": 1, "total": 5}


def embedded(html: str, script: str, name: str):
    """A value Snakemake's report embeds as `<script id=script> var <name> = <JSON>;` (the page renders it)."""
    start = html.index(f"var {name} = ", html.index(f'<script id="{script}">')) + len(f"var {name} = ")
    return json.JSONDecoder().raw_decode(html, start)[0]


@pytest.mark.slow
def test_snakemake_html_report_has_tables_and_plots(evaluated):
    work, run_dir, config = evaluated
    html = work / "report.html"
    run(work, "report", "--report", str(html), overlays=[config])
    text = html.read_text()
    for name in ("results.md", "results.csv", "results.tex", "loss_per_100_steps.png", "metric-Arith.png"):
        assert name in text
    # the workflow's description, on the report's first page
    description = embedded(text, "workflow-desc", "workflow_desc")
    assert "tokenizes each data source" in description and "lm-evaluation-harness on Arith" in description
    # the results table inline (the HTML table's caption carries it), with the run's config digest
    entry = next(e for e in embedded(text, "results", "results").values() if e["name"] == "results.html")
    caption = entry["caption"]
    rows = re.findall(r"<tr><td>([\d,]+)</td><td>[^<]*</td><td>([^<]*)</td>", caption)
    assert [step for step, _ in rows] == ["0", "300"]
    value = json.loads((run_dir / "eval/results/step-00000000/Arith.json").read_text())["value"]
    assert rows[0][1].startswith(f"{100 * value:.1f}")
    digest = re.search(r"config digest ([0-9a-f]{16})", caption)[1]
    assert f"config_digest={digest}" in entry["job_properties"]["params"]  # the run's, as the rule had it


@pytest.mark.slow
def test_eval_logs_have_progress_lines_not_redraws(evaluated):
    _, run_dir, _ = evaluated
    text = (run_dir / "logs/eval/step-00000300/Arith.log").read_text()
    assert "\r" not in text  # tqdm's redraws became lines (cpt.progress.bars_as_log_lines)
    assert re.search(r"^Running loglikelihood requests: 100% (\d+)/\1 \[[\d:]+<[\d:]+, ", text, re.M), text[-2000:]


@pytest.mark.slow
def test_exports_removed_after_their_evals_and_recreated_for_a_rerun(evaluated, tiny_model):
    """eval.remove_exports: an HF export is deleted once its step's evals are done, nothing reruns
    for its absence, and rerunning one eval re-exports it and gets the same score. Last in this
    module: it removes the step-300 export the tests above read."""
    work, run_dir, _ = evaluated
    config = overlay(work / "remove.yaml", run_dir.parent, tiny_model, [ARITH], remove_exports=True)
    result = run_dir / "eval/results/step-00000300/Arith.json"
    export = run_dir / "eval/models/step-00000300"
    before = json.loads(result.read_text())
    assert export.exists()

    args = ("--cores", "2", "--configfile", "configs/demo.yaml", str(config), "--")

    snakemake(work, "--forcerun", "eval_task", *args, str(result))  # step 300's eval, then its export goes
    first = json.loads(result.read_text())
    assert first["status"] == "ok" and first["value"] == before["value"] and not export.exists()
    again = snakemake(work, "-n", *args, str(result))
    assert "Nothing to be done" in again.stdout + again.stderr      # a removed export reruns nothing

    rerun = snakemake(work, "--forcerun", "eval_task", *args, str(result))
    assert "eval_export" in rerun.stdout + rerun.stderr              # re-exported for the rerun ...
    assert json.loads(result.read_text())["value"] == first["value"] and not export.exists()   # ... and removed
