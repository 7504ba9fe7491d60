"""The cleanup rules (data.cleanup) through the real snakemake on the demo: `snakemake data` empties
consumed raw sources and tokenized shards in place, and nothing upstream or downstream reruns for it."""

import os
import re
import shutil

import pytest
import yaml

from data_helpers import read_json
from cpt.data.cleanup import empty
from workflow_run import link_workflow, snakemake


def test_empty_frees_the_bytes_and_keeps_path_and_mtime(tmp_path):
    path = tmp_path / "shard.arrow"
    path.write_bytes(b"x" * 1000)
    os.utime(path, ns=(1_000_000_000, 2_000_000_000))
    record = empty([path])
    assert record == {"files": [str(path)], "bytes_freed": 1000}
    assert path.stat().st_size == 0 and path.stat().st_mtime_ns == 2_000_000_000


@pytest.mark.slow
def test_cleanup_rules_on_the_demo_rerun_nothing(tmp_path, demo_dir):
    work = link_workflow(tmp_path / "work")
    shutil.copytree(demo_dir, work / "demo")
    overlay = {"run": "clean", "data": {"cleanup": {"raw": True, "tokenized": True}}}
    (work / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    args = ("-c2", "--configfile", "configs/demo.yaml", "overlay.yaml", "--")
    raw = sorted((work / "demo/sources").rglob("*.parquet")) + sorted((work / "demo/sources").rglob("*.jsonl"))
    before = {p: p.stat().st_mtime_ns for p in raw}
    snakemake(work, *args, "data")     # the stage target runs its cleanup (the plan's storage peak holds)
    data = work / "results/clean/data"
    tokenized = list(data.glob("tokenized/*/*.arrow"))
    mixed = list(data.glob("mixed/*.arrow"))
    assert tokenized and all(p.stat().st_size == 0 for p in tokenized + raw)
    assert {p: p.stat().st_mtime_ns for p in raw} == before                   # mtimes kept
    assert mixed and all(p.stat().st_size > 0 for p in mixed)                 # training data untouched
    cleaned = read_json(data / "cleanup/tokenized.json")
    assert sorted(cleaned["files"]) == sorted(str(p.relative_to(work)) for p in tokenized)
    assert cleaned["bytes_freed"] > 0
    for target in ("data", "cleanup"):
        again = snakemake(work, "-n", *args, target)
        assert "Nothing to be done" in again.stdout + again.stderr, target
    plan = snakemake(work, "-n", *args, "train").stdout
    rules = set(re.findall(r"^(?:local)?rule (\w+):", plan, re.MULTILINE))
    assert "train_segment" in rules and not rules & {"list_source", "tokenize", "mix_plan", "mix_shard"}
