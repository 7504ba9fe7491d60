"""Tokenize-stage throughput vs raw `tokenizers` on the same texts, single core, one run.

    python benchmarks/tokenize_stage.py [--mb 40]

(Not named tokenize.py: a script's directory is first on sys.path, and that name would
shadow the standard library module for every benchmark here.)

Stage: parquet in -> datatrove reader -> encode -> Arrow IPC out (+ hash, sidecar),
i.e. cpt.data.tokenize.tokenize_shard. Baseline: Tokenizer.encode_batch on the
same texts already in memory (and encode_batch_fast, which the stage uses).
Prints tokens/s for each and their ratio (target >= 0.9), then the read rate of a
memory-mapped packed shard (rows/s). Uses the demo tokenizer (built if needed).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ["TOKENIZERS_PARALLELISM"] = "false"  # single core: the stage runs one job per core
os.environ["RAYON_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from cpt.data.formats import PackedShard, packed_schema  # noqa: E402
from cpt.data.sources import write_listing  # noqa: E402
from cpt.data.tokenize import tokenize_shard  # noqa: E402
from cpt.demo.__main__ import build  # noqa: E402
from cpt.demo.corpora import help_topics, module_docs  # noqa: E402

BATCH = 1024


def corpus(megabytes: float) -> list[str]:
    texts, size = [], 0
    base = help_topics() + module_docs()
    while size < megabytes * 1e6:
        for text in base:
            texts.append(text)
            size += len(text)
    return texts


def baseline(model_dir: Path, texts: list[str], method: str) -> tuple[float, int]:
    """A fresh tokenizer per measurement: its BPE word cache would favour whoever runs second."""
    encode = getattr(Tokenizer.from_file(str(model_dir / "tokenizer.json")), method)
    start = time.perf_counter()
    tokens = 0
    for i in range(0, len(texts), BATCH):
        tokens += sum(len(e.ids) for e in encode(texts[i:i + BATCH], add_special_tokens=False))
    return time.perf_counter() - start, tokens


def packed_read_rate(tmp: Path, seq_len: int = 8192, rows: int = 4096, batch_rows: int = 64) -> float:
    """Rows/s of reading random row batches of a memory-mapped packed shard (as the trainer does)."""
    path = tmp / "packed.arrow"
    schema = packed_schema(seq_len)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        for _ in range(rows // 512):
            values = pa.array(np.random.randint(0, 128256, 512 * (seq_len + 1), dtype=np.uint32))
            writer.write_batch(pa.record_batch([pa.FixedSizeListArray.from_arrays(values, seq_len + 1)],
                                               schema=schema))
    shard = PackedShard(path)
    starts = np.random.default_rng(0).integers(0, rows - batch_rows, 200)
    start = time.perf_counter()
    checksum = 0
    for s in starts:
        checksum += int(shard.rows(int(s), int(s) + batch_rows)[:, ::512].sum())  # touch every page
    return len(starts) * batch_rows / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=40, help="corpus size in MB of text")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        build(tmp / "demo")
        model_dir = tmp / "demo" / "model"
        texts = corpus(args.mb)
        (tmp / "src").mkdir()
        pq.write_table(pa.table({"text": texts}), tmp / "src" / "part.parquet", row_group_size=BATCH)
        print(f"corpus: {len(texts):,} documents, {sum(map(len, texts)) / 1e6:.1f} MB, single core")

        raw_s, raw_tokens = baseline(model_dir, texts, "encode_batch")
        fast_s, _ = baseline(model_dir, texts, "encode_batch_fast")
        source = {"local_dir": str(tmp / "src"), "glob": "*.parquet", "format": "parquet", "text_field": "text",
                  "id_field": None, "encoding_errors": "strict"}
        write_listing(tmp / "listing.txt", source["local_dir"], ["part.parquet"])
        start = time.perf_counter()
        stats = tokenize_shard("bench", source, str(tmp / "listing.txt"), 0, 1, str(model_dir), 8192,
                               str(tmp / "out.arrow"), BATCH)
        stage_s = time.perf_counter() - start
        assert stats["tokens"] == raw_tokens + 2 * len(texts)  # + BOS and EOS per document

        rate = lambda seconds: raw_tokens / seconds  # noqa: E731  same token count for all three
        print(f"raw encode_batch (in memory)       {rate(raw_s):>12,.0f} tokens/s")
        print(f"raw encode_batch_fast (in memory)  {rate(fast_s):>12,.0f} tokens/s")
        print(f"tokenize stage (parquet -> Arrow)  {rate(stage_s):>12,.0f} tokens/s")
        print(f"ratio stage / encode_batch         {raw_s / stage_s:>12.3f}   (target >= 0.9)")
        print(f"ratio stage / encode_batch_fast    {fast_s / stage_s:>12.3f}")
        print(f"packed shard read (mmap, 64-row batches, 8192 ctx) {packed_read_rate(tmp):,.0f} rows/s")


if __name__ == "__main__":
    main()
