"""Read what W&B's offline runs under a dir hold (its own record protobufs, no network).

The W&B sink resumes from what these files hold, not from what it meant to log: a
job killed hard (node failure, OOM) loses the rows W&B had not yet written, and the
next job logs those steps again instead of leaving a gap.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

# A .wandb file: a 7-byte W&B header, then LevelDB-log records in 32 KiB blocks, each
# chunk with a 7-byte header (crc32, length, type: FULL=1, FIRST=2, MIDDLE=3, LAST=4).
BLOCK, HEADER = 32768, 7
FULL, LAST = 1, 4


CLOSED = "cpt-closed"   # written into an offline run dir by the sink that closed it (its job ended cleanly)


def offline_runs(wandb_dir: Path) -> list[Path]:
    """The offline run dirs W&B made under `wandb_dir`, oldest first (names start with the time)."""
    return sorted(Path(wandb_dir).glob("wandb/offline-run-*"))


def _chunks(data: bytes):
    pos, record = HEADER, b""
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:  # block trailer padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        if pos + HEADER + length > len(data):  # a record cut by a killed writer
            return
        record += data[pos + HEADER:pos + HEADER + length]
        pos += HEADER + length
        if kind in (FULL, LAST):
            yield record
            record = b""


def records(path: Path):
    """The protobuf records of one .wandb file (a cut-off tail is skipped)."""
    from wandb.proto import wandb_internal_pb2 as pb
    data = Path(path).read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path}: not a W&B run file")
    for chunk in _chunks(data):
        record = pb.Record()
        record.ParseFromString(chunk)
        yield record


def history(wandb_dir: Path) -> tuple[set[str], list[dict]]:
    """Run ids and history rows of every offline run under `wandb_dir`, in start order."""
    ids, rows = set(), []
    for run in offline_runs(wandb_dir):
        for path in run.glob("run-*.wandb"):
            for record in records(path):
                kind = record.WhichOneof("record_type")
                if kind == "run":
                    ids.add(record.run.run_id)
                elif kind == "history":
                    rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                                 for item in record.history.item})
    return ids, rows
