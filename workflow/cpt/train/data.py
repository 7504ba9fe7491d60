"""Training batches from the mix's packed shards, addressed by global row position.

The mix already shuffled documents, so step s reads the global batch at rows
[p, p + global_batch) of the shards' concatenation, where p is the position
(rows consumed so far, stored in every checkpoint). DP rank d takes its own
local_batch slice of it; TP ranks of a group share a DP rank and so read the same
rows. A position past the end wraps around (another epoch of the mix). Because a
batch depends only on the position, resume is exact and the global batch may
even change between segments.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

import numpy as np
import torch

from cpt.data.formats import ManifestError, PackedShard, manifest_shard_paths, verify_manifest

log = logging.getLogger("cpt")


def open_shards(manifest_path: str | Path, *, seq_len: int, tokenizer_sha256: str) -> list[PackedShard]:
    """The manifest's packed shards, after checking they fit the model and each other."""
    manifest = verify_manifest(manifest_path, seq_len=seq_len, tokenizer_sha256=tokenizer_sha256)
    shards = []
    for entry, path in zip(manifest["shards"], manifest_shard_paths(manifest_path, manifest)):
        if not path.is_file():
            raise ManifestError(f"{manifest_path}: shard {entry['path']} is missing ({path}); rerun the mix stage")
        shard = PackedShard(path)
        if len(shard) != entry["rows"] or shard.row_tokens != seq_len + 1:
            raise ManifestError(f"{path}: holds {len(shard)} rows of {shard.row_tokens} tokens but the manifest "
                                f"says {entry['rows']} rows of seq_len+1={seq_len + 1}; rerun the mix stage")
        shards.append(shard)
    if not shards or sum(len(s) for s in shards) == 0:
        raise ManifestError(f"{manifest_path}: lists no rows; rerun the mix stage")
    return shards


class RowReader:
    """Rows of several shards as one virtual array, wrapping around at the end."""

    def __init__(self, shards: list[PackedShard]):
        self.shards = shards
        self.starts = np.cumsum([0] + [len(s) for s in shards])
        self.total = int(self.starts[-1])

    def take(self, first: int, count: int) -> np.ndarray:
        parts = []
        while count > 0:
            row = first % self.total
            i = int(np.searchsorted(self.starts, row, side="right")) - 1
            local = row - int(self.starts[i])
            n = min(count, len(self.shards[i]) - local)
            parts.append(self.shards[i].rows(local, local + n))
            first, count = first + n, count - n
        return np.concatenate(parts) if len(parts) > 1 else parts[0]


class Loader:
    """Yields (inputs, targets) int64 batches for one DP rank; prefetches in a thread.

    `position` counts rows consumed by the trainer (not by the prefetcher), so it
    is what a checkpoint must store.
    """

    def __init__(self, reader: RowReader, *, local_batch: int, dp_rank: int, dp_size: int, position: int,
                 prefetch: int = 2):
        self.reader, self.local_batch, self.dp_rank = reader, local_batch, dp_rank
        self.global_batch = local_batch * dp_size
        self.position = position
        self._queue: queue.Queue = queue.Queue(maxsize=prefetch)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(position,), daemon=True, name="cpt-loader")
        self._thread.start()

    def batch_at(self, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self.reader.take(position + self.dp_rank * self.local_batch, self.local_batch)
        tokens = torch.from_numpy(rows.astype(np.int64))
        return tokens[:, :-1], tokens[:, 1:]

    def _produce(self, position: int) -> None:
        try:
            while not self._stop.is_set():
                item = self.batch_at(position)
                position += self.global_batch
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except Exception as err:  # surfaces in the trainer's thread, not as a silent hang
            self._queue.put(err)

    def __iter__(self):
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        item = self._queue.get()
        if isinstance(item, Exception):
            raise item
        if self.position // self.reader.total < (self.position + self.global_batch) // self.reader.total:
            log.warning("data: the mix's %d rows are used up at row %d; wrapping around for another epoch",
                        self.reader.total, self.position)
        self.position += self.global_batch
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
