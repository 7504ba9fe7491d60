"""Helpers of the data-stage tests: synthetic tokenized shards as the tokenize step writes them."""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from cpt.atomic import sha256_file, write_json
from cpt.data.formats import DOCUMENT_SCHEMA


def write_tokenized(directory: Path, source: str, documents: list[np.ndarray], shard: int = 0,
                    tokenizer_sha256: str = "t" * 64, batch_rows: int | None = None) -> Path:
    """A tokenized shard and its stats sidecar, as the tokenize step writes them (record batches of
    `batch_rows` documents; one batch when None)."""
    path = directory / source / f"{shard:05d}.arrow"
    path.parent.mkdir(parents=True, exist_ok=True)
    tokens = pa.array([d.astype(np.uint32) for d in documents], pa.list_(pa.uint32()))
    batch = pa.record_batch([tokens, pa.array([source] * len(documents)),
                             pa.array([f"{source}-{i}" for i in range(len(documents))])], schema=DOCUMENT_SCHEMA)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, DOCUMENT_SCHEMA) as writer:
        for first in range(0, max(len(documents), 1), batch_rows or max(len(documents), 1)):
            writer.write_batch(batch.slice(first, batch_rows))
    stats = {"source": source, "shard": shard, "rows": len(documents),
             "tokens": int(sum(len(d) for d in documents)), "sha256": sha256_file(path),
             "tokenizer_sha256": tokenizer_sha256}
    write_json(f"{path}.json", stats)
    return Path(f"{path}.json")


def read_json(path) -> dict:
    return json.loads(Path(path).read_text())
