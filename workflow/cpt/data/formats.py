"""On-disk formats of the data stage: tokenized shards, packed shards, manifest.

Tokenized shard: Arrow IPC file, one row per document (`tokens: list<uint32>`,
`source`, `id`) plus a `<shard>.json` stats sidecar.
Packed shard: Arrow IPC file of training rows, `tokens:
fixed_size_list<uint32>[seq_len + 1]`, read zero-copy through a memory map.
Manifest: `manifest.json` beside the `mixed/` directory (see mix.py).
"""

from __future__ import annotations

import bisect
import json
from pathlib import Path

import numpy as np
import pyarrow as pa

TOKEN_TYPE = pa.uint32()  # Llama-3's vocabulary (128,256) does not fit in uint16
DOCUMENT_SCHEMA = pa.schema([
    ("tokens", pa.list_(TOKEN_TYPE)),
    ("source", pa.string()),
    ("id", pa.string()),
])
MANIFEST_FORMAT = "cpt-mix/1"


def packed_schema(seq_len: int) -> pa.Schema:
    """Rows of seq_len + 1 tokens: inputs are row[:-1], targets row[1:]."""
    return pa.schema([("tokens", pa.list_(TOKEN_TYPE, seq_len + 1))])


def _open_batches(path: str | Path) -> list[pa.RecordBatch]:
    reader = pa.ipc.open_file(pa.memory_map(str(path), "r"))
    return [reader.get_batch(i) for i in range(reader.num_record_batches)]


class DocumentShard:
    """Random access to the documents of a tokenized shard, without copying."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._batches = _open_batches(path)
        self._starts = [0]
        for batch in self._batches:
            self._starts.append(self._starts[-1] + batch.num_rows)
        self._values = [b.column("tokens").values.to_numpy() for b in self._batches]
        self._offsets = [b.column("tokens").offsets.to_numpy() for b in self._batches]

    def __len__(self) -> int:
        return self._starts[-1]

    def document(self, row: int) -> np.ndarray:
        """Tokens of document `row` (a view into the memory map)."""
        b = bisect.bisect_right(self._starts, row) - 1
        local = row - self._starts[b]
        offsets = self._offsets[b]
        return self._values[b][offsets[local]:offsets[local + 1]]


class PackedShard:
    """Training rows of a packed shard as one (rows, seq_len + 1) uint32 view per batch."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        batches = _open_batches(path)
        self.row_tokens = batches[0].schema.field("tokens").type.list_size if batches else 0
        self._blocks = [b.column("tokens").values.to_numpy().reshape(b.num_rows, -1) for b in batches]
        self._starts = np.cumsum([0] + [len(block) for block in self._blocks])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as a uint32 array; a view when they lie in one batch."""
        if not 0 <= start <= stop <= len(self):
            raise IndexError(f"{self.path}: rows [{start}, {stop}) outside [0, {len(self)})")
        first = int(np.searchsorted(self._starts, start, side="right")) - 1
        parts = []
        while start < stop:
            block = self._blocks[first]
            local = start - int(self._starts[first])
            take = min(stop - start, len(block) - local)
            parts.append(block[local:local + take])
            start += take
            first += 1
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else np.empty((0, self.row_tokens), np.uint32)


class ManifestError(ValueError):
    """A manifest that does not fit the model or the files on disk."""


def load_manifest(path: str | Path) -> dict:
    path = Path(path)
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ManifestError(f"{path}: cannot read the mix manifest ({err}); rerun the mix stage") from err
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ManifestError(f"{path}: field 'format' is {manifest.get('format')!r}, expected {MANIFEST_FORMAT!r}; "
                            "rerun the mix stage with this version")
    return manifest


def verify_manifest(manifest_path: str | Path, *, seq_len: int, tokenizer_sha256: str) -> dict:
    """Load a manifest and refuse it when it was mixed for another model or context.

    Training on tokens of another tokenizer, or rows of another length, runs
    without crashing and silently learns garbage, so this is checked up front.
    """
    manifest = load_manifest(manifest_path)
    if manifest["seq_len"] != seq_len:
        raise ManifestError(f"{manifest_path}: field 'seq_len' is {manifest['seq_len']} but the training config "
                            f"says {seq_len}; set data.seq_len to match and rerun the mix stage")
    if manifest["tokenizer_sha256"] != tokenizer_sha256:
        raise ManifestError(f"{manifest_path}: field 'tokenizer_sha256' ({manifest['tokenizer_sha256'][:12]}...) "
                            f"differs from the model's tokenizer.json ({tokenizer_sha256[:12]}...); the data was "
                            "tokenized for another model: rerun tokenize and mix with this model's tokenizer")
    return manifest


def manifest_shard_paths(manifest_path: str | Path, manifest: dict) -> list[Path]:
    """Absolute paths of the packed shards (the manifest stores them relative to itself)."""
    root = Path(manifest_path).parent
    return [root / shard["path"] for shard in manifest["shards"]]
