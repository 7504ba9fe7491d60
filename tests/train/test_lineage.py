"""The run's history, checkpoint lineage and one-writer record, on hand-written records
(fast, no torch): stale checkpoints are skipped, bad records are refused with the fix."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from cpt.settings import ConfigError
from cpt.chain import lease
from cpt.rundir import lineage

OLD, NEW = "a" * 16, "b" * 16
HISTORY = [{"from_step": 0, "training_digest": OLD}, {"from_step": 4, "training_digest": NEW}]


def checkpoint(root, step, digest, lineage_steps):
    path = lineage.step_dir(root, step)
    path.mkdir(parents=True)
    ancestry = [{"step": s, "training_digest": None if s == 0 else d} for s, d in lineage_steps]
    (path / lineage.MARKER).write_text(json.dumps({"step": step, "training_digest": digest, "lineage": ancestry}))


def test_resume_follows_the_lineage_not_the_newest_dir(tmp_path):
    root = tmp_path / "checkpoints"
    checkpoint(root, 0, None, [])
    checkpoint(root, 4, OLD, [(0, None)])
    checkpoint(root, 6, OLD, [(0, None), (4, OLD)])          # trained before the continuation: stale
    checkpoint(root, 5, NEW, [(0, None), (4, OLD)])          # the continued branch
    lineage.step_dir(root, 7).mkdir()                         # interrupted write (no marker)
    assert lineage.digest_at(HISTORY, 4) == OLD and lineage.digest_at(HISTORY, 5) == NEW
    assert lineage.resume_point(root, HISTORY, at_most=10).name == "step-00000005"
    assert "expects" in lineage.invalid_reason(lineage.marker(lineage.step_dir(root, 6)), HISTORY)
    assert lineage.resume_point(root, HISTORY[:1], at_most=10).name == "step-00000006"  # one regime: newest
    checkpoint(root, 8, NEW, [(0, None), (4, NEW)])           # a parent trained under the wrong regime
    assert lineage.valid_record(root, 8, HISTORY) is None


def test_child_record_extends_the_lineage():
    parent = {"step": 4, "training_digest": OLD, "lineage": [{"step": 0, "training_digest": None}]}
    child = lineage.child_record(parent, {"training": NEW, "config": "c" * 16})
    assert child["parent"] == 4 and [a["step"] for a in child["lineage"]] == [0, 4]
    assert child["training_digest"] == NEW and child["config_digest"] == "c" * 16


def test_corrupt_history_is_refused_naming_the_file(tmp_path):
    (tmp_path / lineage.HISTORY).write_text("{not json")
    with pytest.raises(ConfigError, match=r"run\.json: not a run history"):
        lineage.read_history(tmp_path)


def test_corrupt_and_foreign_writer_records_are_refused(tmp_path):
    (tmp_path / lease.RECORD).write_text("garbage")
    with pytest.raises(lease.LeaseError, match="corrupt or foreign.*delete the file"):
        lease.read("run", tmp_path)
    lease.write(tmp_path, lease.empty("other-run", tmp_path))
    with pytest.raises(lease.LeaseError, match="belongs to run 'other-run'"):
        lease.read("run", tmp_path)
    assert lease.read("other-run", tmp_path)["jobs"] == []


def test_local_holder_is_live_only_while_its_process_lives_and_beats(tmp_path):
    record = lease.empty("run", tmp_path)
    record["local"] = lease.holder_entry()
    assert lease.local_live(record, stale_seconds=60)
    assert not lease.local_live(record, stale_seconds=60, now=time.time() + 61)   # heartbeat too old
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    record["local"] = {"host": socket.gethostname(), "pid": int(dead.stdout), "heartbeat": time.time()}
    assert not lease.local_live(record, stale_seconds=60)                         # process gone
    record["local"] = {"host": "elsewhere", "pid": os.getpid(), "heartbeat": time.time()}
    assert lease.local_live(record, stale_seconds=60)                             # other host: heartbeat decides


def test_the_lock_serializes_writers(tmp_path):
    """Two processes each add one job under the lock a hundred times: none is lost."""
    lease.write(tmp_path, lease.empty("run", tmp_path))
    code = ("import sys; from cpt.chain import lease\n"
            "for i in range(100):\n"
            "    with lease.locked(sys.argv[1]):\n"
            "        r = lease.read('run', sys.argv[1]); r['jobs'].append(sys.argv[2]); lease.write(sys.argv[1], r)\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), tag]) for tag in "ab"]
    assert [p.wait() for p in procs] == [0, 0]
    assert len(lease.read("run", tmp_path)["jobs"]) == 200
