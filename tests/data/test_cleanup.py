"""cpt.data.cleanup.empty: a consumed file is emptied in place. The cleanup rules end to end run in
tests/data/test_data_pipeline.py, on that test's second data-stage run."""

import os

from cpt.data.cleanup import empty


def test_empty_frees_the_bytes_and_keeps_path_and_mtime(tmp_path):
    path = tmp_path / "shard.arrow"
    path.write_bytes(b"x" * 1000)
    os.utime(path, ns=(1_000_000_000, 2_000_000_000))
    record = empty([path])
    assert record == {"files": [str(path)], "bytes_freed": 1000}
    assert path.stat().st_size == 0 and path.stat().st_mtime_ns == 2_000_000_000
