"""A results tree written before issue 22 moved the chain, lineage and live modules (kept in
tests/fixtures/tree-c3418ca, made by main at c3418ca) still shows its status, reports and
resumes with today's code: the on-disk formats (writer.json, run.json, complete.json,
chain-config.json, metrics.jsonl) did not change."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cpt.rundir.metrics import read_metrics
from cpt.rundir.paths import RunDir
from workflow_run import link_workflow, snakemake

FIXTURE = Path(__file__).parent / "fixtures" / "tree-c3418ca"
ARGS = ["train", "--cores", "2", "--configfile", "config.yaml", "overlay.yaml",
        "--allowed-rules", "train_import", "train_segment", "train"]


@pytest.fixture
def work(tmp_path) -> Path:
    """The fixture in a working dir of its own, as if it had always been there."""
    work = link_workflow(tmp_path / "work")
    for item in ("model", "results", "overlay.yaml"):
        src = FIXTURE / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, work / item)
    # The run keeps the data layout it was trained with: config.yaml's shard counts and mix blocks have
    # changed since (#24: whole-node jobs, blocks of documents), and those change which documents a
    # shard holds, so they count as an edit.
    trained_with = json.loads((work / "results/v1/train/chain-config.json").read_text())["config"]
    overlay = yaml.safe_load((work / "overlay.yaml").read_text())
    overlay["data"]["sources"] = {name: {"shards": source["shards"]}
                                  for name, source in trained_with["data"]["sources"].items()}
    overlay["data"]["mix"] = {"block_documents": trained_with["data"]["mix"].get("block_documents", 1)}
    (work / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    writer = work / "results/v1/train/writer.json"   # it names the dir it was written in
    writer.write_text(json.dumps({**json.loads(writer.read_text()), "train_dir": str(writer.parent.resolve())}))
    for path in (p for p in work.rglob("*") if p.is_file() and not p.is_symlink()):
        os.utime(path, ns=(1_700_000_000_000_000_000,) * 2)   # a git checkout's mtimes mean nothing
    return work


def cli(work: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", *args], cwd=work, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


def test_old_tree_shows_its_status_and_reports(work):
    cli(work, "cpt.status", "overlay.yaml", "--no-disk", "--json", "status.json")
    status = json.loads((work / "status.json").read_text())
    assert status["segments"] == {**status["segments"], "total": 2, "done": 2}
    assert status["last"]["step"] == 4
    cli(work, "cpt.report", "--run-dir", "results/v1", "--steps", "0,4", "--task", "ARC-C=acc",
        "--loss-bin-steps", "2", "--coarse-bin-steps", "4", "--out-dir", "report")
    assert "ARC-C" in (work / "report/results.md").read_text()
    assert (work / "report/plots/loss_per_100_steps.png").stat().st_size > 1000   # drawn from metrics.jsonl


def test_chain_jobs_queued_before_the_move_still_start(work):
    """Queued chain jobs run `python -m cpt.train.chain job ...`: that path forwards to cpt.chain."""
    usage = cli(work, "cpt.train.chain", "--help").stdout
    assert "segment" in usage and "job" in usage


@pytest.mark.slow
def test_old_tree_resumes_where_it_stopped(work):
    run = RunDir(work / "results/v1")
    before = read_metrics(run.metrics).records
    overlay = yaml.safe_load((work / "overlay.yaml").read_text())
    overlay["train"]["steps"] = 6
    (work / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    planned = set(re.findall(r"output: \S+/segments/step-(\d+)\.json", snakemake(work, *ARGS, "-n").stdout))
    assert planned == {"00000006"}   # the old segments stand: their checkpoints are valid
    snakemake(work, *ARGS)
    after = read_metrics(run.metrics).records
    assert [r["step"] for r in after] == [1, 2, 3, 4, 5, 6] and after[:4] == before
    assert json.loads((run.marker(6)).read_text())["parent"] == 4
    # a pipeline upgrade may redefine the training digest; it is never taken for an edit of the settings
    history = json.loads(run.history.read_text())["history"]
    assert all(entry["from_step"] == 0 or entry.get("redefined") for entry in history), history
