"""A jsonl.gz written as it goes, that a kill -9 cannot corrupt and a rerun resumes.

Lines go to `<out>.partial` as a chain of gzip members (a gzip file may hold several;
every gzip reader reads them as one stream). Every `commit_seconds` the open member is
closed, the file fsynced, and `<out>.journal.json` records the committed length and how
many rows of the input (named by path, size and mtime) it holds. A rerun of the same input
truncates the partial file to that length (dropping a torn tail) and goes on from the next
row; `finish` renames the partial file onto `out`, so `out` exists only complete.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path

from cpt.atomic import write_json

COMPRESS_LEVEL = 3  # measured on 4 KB source files: 1/5 the CPU of gzip.open's 9 (the bottleneck of a fetch), 8% larger


class GzipJournal:
    """Append lines; `rows_done` (and `counts`) say where a rerun starts."""

    def __init__(self, out: Path, commit_seconds: float, input_path: Path):
        self.out, self.commit_seconds = Path(out), commit_seconds
        self.partial = self.out.with_name(self.out.name + ".partial")
        self.journal = self.out.with_name(self.out.name + ".journal.json")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        stat = Path(input_path).stat()  # rows done count rows of this input: another one starts over
        self.input = {"path": str(input_path), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        state = json.loads(self.journal.read_text()) if self.journal.exists() else {}
        if state.get("input") != self.input:
            state = {"bytes": 0, "rows": 0, "counts": {}}
        self.rows_done, self.counts = state["rows"], state["counts"]
        self.file = open(self.partial, "r+b" if self.partial.exists() else "w+b")
        self.file.truncate(state["bytes"])  # a tail written after the last commit is torn or partial: redo it
        self.file.seek(state["bytes"])
        self.member: gzip.GzipFile | None = None
        self.last_commit = time.monotonic()

    @property
    def resumed(self) -> bool:
        return self.rows_done > 0

    def write_row(self, lines: list[str], **counts: int) -> None:
        """The output lines of one input row (maybe none) and what it added to the counters."""
        if self.member is None:
            self.member = gzip.GzipFile(fileobj=self.file, mode="wb", compresslevel=COMPRESS_LEVEL, mtime=0)
        for line in lines:
            self.member.write(line.encode("utf-8"))
        self.rows_done += 1
        for name, value in counts.items():
            self.counts[name] = self.counts.get(name, 0) + value
        if time.monotonic() - self.last_commit >= self.commit_seconds:
            self.commit()

    def commit(self) -> None:
        """Close the open member, make it durable, then record it: the journal never runs ahead of the data."""
        if self.member is not None:
            self.member.close()  # writes the member's trailer; leaves self.file open
            self.member = None
        self.file.flush()
        os.fsync(self.file.fileno())
        write_json(self.journal, {"input": self.input, "bytes": self.file.tell(), "rows": self.rows_done,
                                  "counts": self.counts})
        self.last_commit = time.monotonic()

    def finish(self) -> dict:
        """Commit, then publish: the partial file becomes `out`, the journal goes. Returns the counts."""
        self.commit()
        self.file.close()
        os.replace(self.partial, self.out)
        self.journal.unlink()
        return dict(self.counts)

    def close(self) -> None:
        """After an error: keep what is committed (the rerun resumes there), drop the rest."""
        self.commit()
        self.file.close()
