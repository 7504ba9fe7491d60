"""A whole-node data job: a group of shards, one process each, at most --workers at once."""

import sys

from data_helpers import read_json
from cpt.data import group

# each shard: sleep, then print its index, a JSON argument (braces that are not fields stay) and its OpenMP threads
SHARD = [sys.executable, "-c", "import os, sys, time; time.sleep(0.5); print(sys.argv[1], sys.argv[2], "
         "os.environ['OMP_NUM_THREADS'])", "{shard:03d}", '{"spec": {"a": 1}}']


def run(tmp_path, workers: int, command=SHARD) -> tuple[int, dict | None]:
    record = tmp_path / f"group-{workers}.json"
    code = group.main(["--workers", str(workers), "--first", "3", "--count", "2", "--log",
                       str(tmp_path / f"w{workers}" / "{shard:05d}.log"), "--record", str(record), "--", *command])
    return code, read_json(record) if record.exists() else None


def overlap(a: dict, b: dict) -> bool:
    return max(a["started"], b["started"]) < min(a["finished"], b["finished"])


def test_the_shards_of_a_group_run_at_once_each_with_its_log(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "56")        # as Snakemake sets it to the rule's threads
    code, record = run(tmp_path, workers=2)
    assert code == 0 and [s["shard"] for s in record["shards"]] == [3, 4]
    assert overlap(*record["shards"])
    assert (tmp_path / "w2/00004.log").read_text() == '004 {"spec": {"a": 1}} 1\n'   # one core's threads
    code, record = run(tmp_path, workers=1)            # one core: one after another
    assert code == 0 and not overlap(*record["shards"])


def test_a_failed_shard_fails_the_job_without_a_record_and_the_others_finish(tmp_path):
    failing = [sys.executable, "-c", "import sys; print('shard', sys.argv[1]); sys.exit(int(sys.argv[1]) == 4)",
               "{shard}"]
    code, record = run(tmp_path, workers=2, command=failing)
    assert code == 1 and record is None
    assert (tmp_path / "w2/00003.log").read_text() == "shard 3\n"


def test_groups_are_runs_of_the_node_size():
    assert group.groups(5, 2) == [range(0, 2), range(2, 4), range(4, 5)]
    assert group.groups(56, 56) == [range(0, 56)]
