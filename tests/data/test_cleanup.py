"""The cleanup rules (data.cleanup) through the real snakemake on the demo: consumed raw sources and
tokenized shards are emptied in place, and nothing upstream or downstream reruns for it."""

import os
import re
import shutil

import pytest
import yaml

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
    snakemake(work, *args, "data")
    data = work / "results/clean/data"
    raw = sorted((work / "demo/sources").rglob("*.parquet")) + sorted((work / "demo/sources").rglob("*.jsonl"))
    mixed = {p: p.stat().st_mtime_ns for p in data.glob("mixed/*.arrow")}
    before = {p: p.stat().st_mtime_ns for p in raw}
    assert all(p.stat().st_size > 0 for p in raw + list(data.glob("tokenized/*/*.arrow")))

    snakemake(work, *args, "cleanup")
    tokenized = list(data.glob("tokenized/*/*.arrow"))
    assert tokenized and all(p.stat().st_size == 0 for p in tokenized + raw)
    assert {p: p.stat().st_mtime_ns for p in raw} == before                   # mtimes kept
    assert {p: p.stat().st_mtime_ns for p in data.glob("mixed/*.arrow")} == mixed
    assert all(p.stat().st_size > 0 for p in mixed)                           # training data untouched
    for target in ("data", "cleanup"):
        again = snakemake(work, "-n", *args, target)
        assert "Nothing to be done" in again.stdout + again.stderr, target
    plan = snakemake(work, "-n", *args, "train").stdout
    rules = set(re.findall(r"^(?:local)?rule (\w+):", plan, re.MULTILINE))
    assert "train_segment" in rules and not rules & {"list_source", "tokenize", "mix_plan", "mix_shard"}
