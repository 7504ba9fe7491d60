"""Read documents of tokenized shards by positioned reads, per file in ascending order, in extents.

A mixed shard draws documents at random positions of every tokenized shard. Through a memory
map in the mix's order, each document is a page fault at a random place of a random file: on
Lustre's disk tier, a seek each, in an order no readahead can follow. Here a mix job groups its
documents per file, reads each file front to back, and merges reads whose gap is under
`gap_bytes` (reading through a small gap costs less than a new request), READS_IN_FLIGHT files
at a time; every read is counted (`ReadCount`), so benchmarks/mix_io.py and the plan can price them.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

MAX_EXTENT = 64 << 20  # one read never exceeds this, whatever the gaps: a read's buffer stays small
READS_IN_FLIGHT = 16  # files read at once (threads: os.pread releases the GIL); Lustre serves them in parallel
TOKEN_BYTES = 4  # uint32


@dataclass
class ReadCount:
    """Positioned reads of document data (calls, bytes) and of file layouts (footer + batch headers)."""

    calls: int = 0
    bytes: int = 0
    layout_calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, size: int) -> None:
        with self.lock:  # files are read from several threads
            self.calls += 1
            self.bytes += size


class TokenizedFile:
    """A tokenized shard (Arrow IPC file) read with os.pread: where each batch's token offsets and
    values lie in the file comes from the IPC metadata, read once when opened."""

    def __init__(self, path: str | Path, count: ReadCount):
        self.path, self.count = Path(path), count
        mapped = pa.memory_map(str(path))
        base = mapped.read_buffer(1).address  # buffers of a memory-mapped IPC file are slices of the map
        reader = pa.ipc.open_file(mapped)
        rows, offsets_at, values_at = [], [], []
        for i in range(reader.num_record_batches):
            column = reader.get_batch(i).column("tokens")
            _, offsets, _, values = column.buffers()
            rows.append(len(column))
            offsets_at.append(offsets.address - base + 4 * column.offset if offsets is not None else 0)
            values_at.append(values.address - base if values is not None else 0)
        count.layout_calls += 1 + reader.num_record_batches
        self.batch_starts = np.cumsum([0] + rows)
        self.offsets_at, self.values_at = np.array(offsets_at, np.int64), np.array(values_at, np.int64)
        self.fd = os.open(path, os.O_RDONLY)

    def close(self) -> None:
        os.close(self.fd)

    def read(self, position: int, size: int) -> bytes:
        self.count.add(size)
        data = os.pread(self.fd, size, position)
        if len(data) != size:
            raise OSError(f"{self.path}: {size} bytes at {position} asked, {len(data)} read; the file is "
                          f"truncated: rerun the tokenize job that wrote it")
        return data

    def spans(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """File positions and token counts of documents `rows` (one read of offsets per batch touched)."""
        unique, back = np.unique(rows, return_inverse=True)
        positions, lengths = np.empty(len(unique), np.int64), np.empty(len(unique), np.int64)
        batches = np.searchsorted(self.batch_starts, unique, side="right") - 1
        for batch in np.unique(batches):
            mine = np.flatnonzero(batches == batch)
            local = unique[mine] - self.batch_starts[batch]
            first, last = int(local[0]), int(local[-1])
            offsets = np.frombuffer(self.read(int(self.offsets_at[batch]) + 4 * first, 4 * (last - first + 2)),
                                    np.int32).astype(np.int64)
            starts, ends = offsets[local - first], offsets[local - first + 1]
            positions[mine] = self.values_at[batch] + TOKEN_BYTES * starts
            lengths[mine] = ends - starts
        return positions[back], lengths[back]

    def documents(self, positions: np.ndarray, lengths: np.ndarray, gap_bytes: int) -> list[np.ndarray]:
        """Token arrays at `positions` (bytes) of `lengths` (tokens), in the order given, read in
        ascending extents that swallow gaps under `gap_bytes` and stay under MAX_EXTENT."""
        order = np.argsort(positions, kind="stable")
        out: list[np.ndarray] = [None] * len(positions)
        i = 0
        while i < len(order):
            start = end = int(positions[order[i]])
            j = i
            while j < len(order):
                position = int(positions[order[j]])
                stop = position + TOKEN_BYTES * int(lengths[order[j]])
                if position - end > gap_bytes or (j > i and max(end, stop) - start > MAX_EXTENT):
                    break
                end = max(end, stop)
                j += 1
            extent = np.frombuffer(self.read(start, end - start), np.uint32)
            for k in order[i:j]:
                first = (int(positions[k]) - start) // TOKEN_BYTES
                out[k] = extent[first:first + int(lengths[k])].copy()  # a copy: the extent's gaps are freed
            i = j
        return out
