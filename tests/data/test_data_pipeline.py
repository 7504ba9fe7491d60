"""The real snakemake on the demo config: the data stage end to end, partial reruns, and the cleanup
rules (data.cleanup) on a second run of the same stage."""

import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from data_helpers import read_json
from cpt.atomic import sha256_file
from cpt.data.formats import PackedShard, manifest_shard_paths
from workflow_run import ROOT, link_workflow, snakemake

pytestmark = pytest.mark.slow
# more steps than the demo trains, so the mix draws thousands of documents and small sources repeat
OVERLAY = {"run": "e2e", "train": {"steps": 1000, "schedule": {"decay_end_step": 1000}},
           "data": {"mix": {"rows_per_shard": 2048}}}


def workdir(tmp_path: Path, demo_dir: Path, name: str) -> Path:
    """A working directory with the workflow linked in and a copy of the demo beside it."""
    work = link_workflow(tmp_path / name)
    shutil.copytree(demo_dir, work / "demo")  # copied: a test edits its sources
    (work / "overlay.yaml").write_text(yaml.safe_dump(OVERLAY))
    (work / "extra.yaml").write_text(yaml.safe_dump({}))
    return work


def run(work: Path, target: str, *options: str) -> str:
    """The target with the demo config, the test overlay and the per-step extra overlay."""
    result = snakemake(work, target, "-c2", *options, "--configfile", "configs/demo.yaml", "overlay.yaml", "extra.yaml")
    return result.stdout + result.stderr


def mtimes(work: Path, pattern: str) -> dict[str, float]:
    return {str(p.relative_to(work)): p.stat().st_mtime_ns for p in sorted(work.glob(pattern))}


def test_data_stage_end_to_end_and_partial_reruns(tmp_path, demo_dir):
    work = workdir(tmp_path, demo_dir, "a")
    run(work, "data")
    manifest_path = work / "results/e2e/data/manifest.json"
    manifest = read_json(manifest_path)
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    weights = {name: s["weight"] for name, s in config["data"]["sources"].items()}

    # row shares follow the weights; token shares reported; epochs counted
    assert manifest["documents"] > 2000
    for name, weight in weights.items():
        source = manifest["sources"][name]
        assert source["row_share"] == pytest.approx(weight, abs=0.03), name
        assert 0 < source["token_share"] < 1
    assert sum(s["token_share"] for s in manifest["sources"].values()) == pytest.approx(1)
    assert manifest["sources"]["stack_v2"]["epochs"] > 1  # 70 repositories, ~10% of the draws
    assert manifest["sources"]["stack_v2"]["epochs_started"] >= 2
    assert manifest["rows"] >= manifest["rows_needed"] == 1000 * 8

    # every training row holds exactly seq_len + 1 tokens; hashes are the files'
    for path, shard in zip(manifest_shard_paths(manifest_path, manifest), manifest["shards"]):
        packed = PackedShard(path)
        assert packed.rows(0, len(packed)).shape == (shard["rows"], 129)
        assert sha256_file(path) == shard["sha256"]

    # same seed in another directory, with data.cleanup on: identical hashes; then the cleanup rules
    again = workdir(tmp_path, demo_dir, "b")
    (again / "extra.yaml").write_text(yaml.safe_dump({"data": {"cleanup": {"raw": True, "tokenized": True}}}))
    raw = sorted((again / "demo/sources").rglob("*.parquet")) + sorted((again / "demo/sources").rglob("*.jsonl"))
    raw_mtimes = {p: p.stat().st_mtime_ns for p in raw}
    run(again, "data")     # the stage target runs its cleanup (the plan's storage peak holds)
    assert read_json(again / "results/e2e/data/manifest.json")["shards"] == manifest["shards"]
    assert_cleanup_emptied_consumed_files_and_reruns_nothing(again, raw_mtimes)

    tokenized = mtimes(work, "results/e2e/data/tokenized/*/*.arrow")
    # a different seed reruns the mix only, and changes it
    (work / "extra.yaml").write_text(yaml.safe_dump({"data": {"mix": {"seed": 99}}}))
    run(work, "data")
    reseeded = read_json(manifest_path)
    assert {s["sha256"] for s in reseeded["shards"]}.isdisjoint(s["sha256"] for s in manifest["shards"])
    assert mtimes(work, "results/e2e/data/tokenized/*/*.arrow") == tokenized

    # a changed weight reruns the mix, no tokenize job
    (work / "extra.yaml").write_text(yaml.safe_dump({"data": {"mix": {"seed": 99}, "sources": {
        "finemath": {"weight": 0.05}}}}))
    log = run(work, "data")
    assert "rule tokenize" not in log and "rule mix_plan" in log
    assert read_json(manifest_path)["weights"]["finemath"] == pytest.approx(0.05 / 1.04)
    assert mtimes(work, "results/e2e/data/tokenized/*/*.arrow") == tokenized

    # changed files of one source rerun only that source's tokenize jobs, plus the mix
    (path,) = (work / "demo/sources/finemath").rglob("*.parquet")
    table = pq.read_table(path)
    pq.write_table(pa.concat_tables([table, table.slice(0, 1)]), path)
    mix_before = mtimes(work, "results/e2e/data/mixed/*.arrow")
    run(work, "data")
    after = mtimes(work, "results/e2e/data/tokenized/*/*.arrow")
    changed = {path for path in after if after[path] != tokenized[path]}
    assert changed == {p for p in tokenized if "/finemath/" in p}
    assert all(mix_before[p] != t for p, t in mtimes(work, "results/e2e/data/mixed/*.arrow").items())


def assert_cleanup_emptied_consumed_files_and_reruns_nothing(work: Path, raw_mtimes: dict) -> None:
    """data.cleanup through the real snakemake: `snakemake data` emptied consumed raw sources and
    tokenized shards in place (mtimes kept), and nothing upstream or downstream reruns for it."""
    data = work / "results/e2e/data"
    tokenized = list(data.glob("tokenized/*/*.arrow"))
    mixed = list(data.glob("mixed/*.arrow"))
    assert tokenized and all(p.stat().st_size == 0 for p in tokenized + list(raw_mtimes))
    assert {p: p.stat().st_mtime_ns for p in raw_mtimes} == raw_mtimes       # mtimes kept
    assert mixed and all(p.stat().st_size > 0 for p in mixed)                 # training data untouched
    cleaned = read_json(data / "cleanup/tokenized.json")
    assert sorted(cleaned["files"]) == sorted(str(p.relative_to(work)) for p in tokenized)
    assert cleaned["bytes_freed"] > 0
    for target in ("data", "cleanup"):
        assert "Nothing to be done" in run(work, target, "-n"), target
    plan = run(work, "train", "-n")
    rules = set(re.findall(r"^(?:local)?rule (\w+):", plan, re.MULTILINE))
    assert "train_segment" in rules and not rules & {"list_source", "tokenize", "mix_plan", "mix_shard"}


def test_full_scale_dry_run_lists_the_whole_data_dag(tmp_path):
    """snakemake -n on the reference config: thousands of jobs, nothing downloaded or run."""
    work = link_workflow(tmp_path / "full")
    result = snakemake(work, "-n", "data")
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    jobs = sum(-(-s["shards"] // config["slurm"]["node"]["cores"]) for s in config["data"]["sources"].values())
    assert f"tokenize {jobs}" in " ".join(result.stdout.split())   # node jobs of slurm.node.cores shards
    assert not (work / "results").exists()
