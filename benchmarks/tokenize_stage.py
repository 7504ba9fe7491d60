"""Tokenize-stage throughput with a real 128,256-token Llama-3 tokenizer, single core, whole processes.

    python benchmarks/tokenize_stage.py [--mb 8] [--repeats 3]

(Not named tokenize.py: a script's directory is first on sys.path, and that name would
shadow the standard library module for every benchmark here.)

Tokenizer: Meta's Llama-3 tokenizer.model from the `llama-models` wheel, converted to the
byte-level BPE tokenizer.json HF publishes (tests/llama3_tokenizer.py; fetched with pip once,
cached under ~/.cache/cpt). Corpus: licences, Debian copyright files and Python sources of
this machine (the mix the issue measured), as one parquet file.

Three arms, each a fresh process per repeat (no shared caches), alternating, one core each:
- stage: `python -m cpt.data.tokenize` (parquet -> datatrove -> encode -> Arrow + sidecar);
  its time is the sidecar's `cpu_seconds` (read + encode + write, after start-up: tokenizer
  loaded, reader built);
- tokenizers: Tokenizer.encode_batch over the texts already in memory (the raw baseline);
- tiktoken: Encoding.encode_to_numpy alone over the texts in memory (the stage's own limit).
Times are CPU seconds of the process (all its threads; each arm has one core's worth), which a
machine shared with other work inflates far less than wall time. Prints each arm's median rate
and the ratios stage / tokenizers (target >= 3) and stage / tiktoken (target >= 0.8), each the
median over rounds of the ratio within a round (arms of one round run back to back); then the
read rate of a memory-mapped packed shard.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from llama3_tokenizer import llama3_model_dir  # noqa: E402

from cpt.data.formats import PackedShard, packed_schema  # noqa: E402
from cpt.data.download import write_listing  # noqa: E402

BATCH = 1024
SINGLE_CORE = {**os.environ, "RAYON_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}

# One in-memory baseline per process: the texts are read before the clock starts.
BASELINE = r"""
import sys, time, json
import pyarrow.parquet as pq
texts = pq.read_table(sys.argv[2]).column("text").to_pylist()
if sys.argv[1] == "tokenizers":
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(sys.argv[3] + "/tokenizer.json")
    start = time.process_time()
    tokens = sum(len(e.ids) for i in range(0, len(texts), 1024)
                 for e in tok.encode_batch(texts[i:i + 1024], add_special_tokens=False))
else:
    from cpt.data.fast_tokenizer import tiktoken_encoding
    enc = tiktoken_encoding(sys.argv[3] + "/tokenizer.json")
    start = time.process_time()
    tokens = sum(len(enc.encode_to_numpy(t, allowed_special=enc.special_tokens_set)) for t in texts)
print(json.dumps({"seconds": time.process_time() - start, "tokens": tokens}))
"""


def corpus(megabytes: float) -> list[str]:
    """Licences, Debian copyright files and Python sources: prose, legal text and code."""
    paths = (sorted(glob.glob("/usr/share/common-licenses/*")) + sorted(glob.glob("/usr/share/doc/*/copyright"))
             + sorted(glob.glob(f"{sys.base_prefix}/lib/python3*/**/*.py", recursive=True)))
    texts, size = [], 0
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError, IsADirectoryError):
            continue
        texts.append(text)
        size += len(text)
        if size >= megabytes * 1e6:
            break
    return texts


def run_stage(tmp: Path, model_dir: Path, source: dict) -> dict:
    out = tmp / "out.arrow"
    subprocess.run([sys.executable, "-m", "cpt.data.tokenize", "--name", "bench", "--spec", json.dumps(source),
                    "--paths-file", str(tmp / "listing.txt"), "--shard", "0", "--shards", "1", "--model-dir",
                    str(model_dir), "--seq-len", "8192", "--batch-size", str(BATCH), "--threads", "1",
                    "--out", str(out)], check=True, env=SINGLE_CORE, capture_output=True)
    stats = json.loads(Path(f"{out}.json").read_text())
    return {"seconds": stats["cpu_seconds"], "tokens": stats["tokens"] - 2 * stats["rows"],
            "reference_documents": stats["reference_documents"],
            "reference_characters": stats["reference_characters"], "rows": stats["rows"]}


def run_baseline(arm: str, parquet: Path, model_dir: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", BASELINE, arm, str(parquet), str(model_dir)], check=True,
                          env=SINGLE_CORE, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


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
    parser.add_argument("--mb", type=float, default=8, help="corpus size in MB of text")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the three arms, alternating")
    args = parser.parse_args()
    model_dir = llama3_model_dir()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        texts = corpus(args.mb)
        (tmp / "src").mkdir()
        parquet = tmp / "src" / "part.parquet"
        pq.write_table(pa.table({"text": texts}), parquet, row_group_size=BATCH)
        source = {"local_dir": str(tmp / "src"), "glob": "*.parquet", "format": "parquet", "text_field": "text",
                  "id_field": None, "encoding_errors": "strict"}
        write_listing(tmp / "listing.txt", source["local_dir"], ["part.parquet"])
        print(f"corpus: {len(texts):,} documents, {sum(map(len, texts)) / 1e6:.1f} MB; tokenizer: Meta's Llama-3 "
              f"(128,256 tokens); one core; {args.repeats} alternating rounds")

        results: dict[str, list[dict]] = {"stage": [], "tokenizers": [], "tiktoken": []}
        for round_ in range(args.repeats):
            for arm in (results if round_ % 2 == 0 else reversed(list(results))):
                result = run_stage(tmp, model_dir, source) if arm == "stage" else run_baseline(arm, parquet, model_dir)
                results[arm].append(result)
                per_second = result["tokens"] / result["seconds"]
                print(f"  round {round_ + 1} {arm:<10} {per_second:>12,.0f} tokens/s (CPU time)", flush=True)
        tokens = {arm: {r["tokens"] for r in runs} for arm, runs in results.items()}
        assert len(set().union(*tokens.values())) == 1, f"arms disagree on the token count: {tokens}"
        rate = {arm: runs[0]["tokens"] / statistics.median(r["seconds"] for r in runs) for arm, runs in results.items()}
        stage = results["stage"][0]
        # each round's arms ran back to back: the median of their ratios drops outlier rounds
        ratios = {arm: statistics.median(b["seconds"] / s["seconds"] for b, s in zip(results[arm], results["stage"]))
                  for arm in ("tokenizers", "tiktoken")}
        print(f"tokenizers encode_batch (in memory)   {rate['tokenizers']:>12,.0f} tokens/s (median)")
        print(f"tiktoken encode alone (in memory)     {rate['tiktoken']:>12,.0f} tokens/s (median)")
        print(f"tokenize stage (parquet -> Arrow)     {rate['stage']:>12,.0f} tokens/s (median) "
              f"({stage['reference_documents']} of {stage['rows']} documents, {stage['reference_characters']:,} "
              "characters routed to tokenizers)")
        print(f"ratio stage / tokenizers              {ratios['tokenizers']:>12.2f}   (target >= 3; median of rounds)")
        print(f"ratio stage / tiktoken alone          {ratios['tiktoken']:>12.2f}   (target >= 0.8; median of rounds)")
        print(f"packed shard read (mmap, 64-row batches, 8192 ctx) {packed_read_rate(tmp):,.0f} rows/s")


if __name__ == "__main__":
    main()
