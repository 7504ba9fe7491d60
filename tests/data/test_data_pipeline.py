"""The real snakemake on the demo config: the data stage end to end, and partial reruns."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from data_helpers import read_json
from cpt.atomic import sha256_file
from cpt.data.formats import PackedShard, manifest_shard_paths

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
# more steps than the demo trains, so the mix draws thousands of documents and small sources repeat
OVERLAY = {"run": "e2e", "train": {"steps": 1000}, "data": {"mix": {"rows_per_shard": 2048}}}


def workdir(tmp_path: Path, demo_dir: Path, name: str, **overlay) -> Path:
    """A working directory with the workflow linked in and the demo data beside it."""
    work = tmp_path / name
    work.mkdir()
    for item in ("Snakefile", "workflow", "config.yaml", "configs", "envs"):
        (work / item).symlink_to(ROOT / item)
    shutil.copytree(demo_dir, work / "demo")  # copied: a test edits its sources
    (work / "overlay.yaml").write_text(yaml.safe_dump(OVERLAY))
    (work / "extra.yaml").write_text(yaml.safe_dump(overlay))
    return work


def snakemake(work: Path, *args: str) -> str:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", *args, "-c2", "--configfile", "configs/demo.yaml", "overlay.yaml",
         "extra.yaml"], cwd=work, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def mtimes(work: Path, pattern: str) -> dict[str, float]:
    return {str(p.relative_to(work)): p.stat().st_mtime_ns for p in sorted(work.glob(pattern))}


def test_data_stage_end_to_end_and_partial_reruns(tmp_path, demo_dir):
    work = workdir(tmp_path, demo_dir, "a")
    snakemake(work, "data")
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

    # same seed in another directory: identical hashes
    again = workdir(tmp_path, demo_dir, "b")
    snakemake(again, "data")
    assert read_json(again / "results/e2e/data/manifest.json")["shards"] == manifest["shards"]

    tokenized = mtimes(work, "results/e2e/data/tokenized/*/*.arrow")
    # a different seed reruns the mix only, and changes it
    (work / "extra.yaml").write_text(yaml.safe_dump({"data": {"mix": {"seed": 99}}}))
    snakemake(work, "data")
    reseeded = read_json(manifest_path)
    assert {s["sha256"] for s in reseeded["shards"]}.isdisjoint(s["sha256"] for s in manifest["shards"])
    assert mtimes(work, "results/e2e/data/tokenized/*/*.arrow") == tokenized

    # a changed weight reruns the mix, no tokenize job
    (work / "extra.yaml").write_text(yaml.safe_dump({"data": {"mix": {"seed": 99}, "sources": {
        "finemath": {"weight": 0.05}}}}))
    log = snakemake(work, "data")
    assert "rule tokenize" not in log and "rule mix_plan" in log
    assert read_json(manifest_path)["weights"]["finemath"] == pytest.approx(0.05 / 1.04)
    assert mtimes(work, "results/e2e/data/tokenized/*/*.arrow") == tokenized

    # changed files of one source rerun only that source's tokenize jobs, plus the mix
    (path,) = (work / "demo/sources/finemath").rglob("*.parquet")
    table = pq.read_table(path)
    pq.write_table(pa.concat_tables([table, table.slice(0, 1)]), path)
    mix_before = mtimes(work, "results/e2e/data/mixed/*.arrow")
    snakemake(work, "data")
    after = mtimes(work, "results/e2e/data/tokenized/*/*.arrow")
    changed = {path for path in after if after[path] != tokenized[path]}
    assert changed == {p for p in tokenized if "/finemath/" in p}
    assert all(mix_before[p] != t for p, t in mtimes(work, "results/e2e/data/mixed/*.arrow").items())


def test_full_scale_dry_run_lists_the_whole_data_dag(tmp_path):
    """snakemake -n on the reference config: thousands of jobs, nothing downloaded or run."""
    work = tmp_path / "full"
    work.mkdir()
    for item in ("Snakefile", "workflow", "config.yaml", "envs"):
        (work / item).symlink_to(ROOT / item)
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "data"], cwd=work, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    shards = sum(s["shards"] for s in config["data"]["sources"].values())
    assert f"tokenize         {shards}" in result.stdout or f"tokenize {shards}" in " ".join(result.stdout.split())
    assert not (work / "results").exists()
