"""Tokenize one shard of a source: datatrove reader -> tokenizer -> Arrow writer.

    python -m cpt.data.tokenize --name dclm --spec '<source json>' --paths-file dclm.txt \
        --shard 3 --shards 512 --model-dir models/Llama-3.1-8B --seq-len 8192 --out 00003.arrow

Documents are encoded as Llama-3 pretraining sees them: BOS + text + EOS, so the
mixer only concatenates. Which files a shard reads depends on nothing but (shard, shards)
and the source's file listing, balanced by bytes (cpt.data.shards). A whole-node job runs
one such process per core over a group of shards (cpt.data.group).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa
from tokenizers import Tokenizer

from cpt.atomic import atomic_path, sha256_file, write_json
from cpt.data.fast_tokenizer import Unsupported, reference_spans, splits_at_paragraphs, tiktoken_encoding
from cpt.data.formats import DOCUMENT_SCHEMA
from cpt.data.threads import cap_threads
from cpt.data.listing import SourceError
from cpt.data.readers import expected_documents, read_documents
from cpt.data.shards import shard_files
from cpt.progress import RateLogger

log = logging.getLogger("cpt")


class DocumentEncoder:
    """Batched encoding into BOS + ids + EOS, flattened for Arrow.

    tiktoken encodes what it reproduces exactly; `tokenizers` (tokenizer.json itself) encodes
    the rest: every document when tiktoken cannot express the tokenizer, else the few paragraphs
    `reference_spans` flags, whose ids are spliced back into their documents."""

    def __init__(self, model_dir: str | Path, threads: int = 1):
        model_dir = Path(model_dir)
        path = model_dir / "tokenizer.json"
        self.tokenizer = Tokenizer.from_file(str(path))
        self.tokenizer_sha256 = sha256_file(path)
        config = json.loads((model_dir / "config.json").read_text())
        self.bos_id, self.eos_id = special_token_ids(config, model_dir / "config.json")
        self.threads = threads
        try:
            self.fast = tiktoken_encoding(path)
            log.info("tokenizer %s: tiktoken fast path (paragraphs with combining marks go to tokenizers)", path)
        except Unsupported as err:
            self.fast = None
            log.info("tokenizer %s: tokenizers for every document (tiktoken cannot express it: %s)", path, err)
        self.by_paragraph = self.fast is not None and splits_at_paragraphs(self.fast)
        self.reference_documents = self.reference_characters = 0

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(offsets, values) of a list<uint32> column holding the encoded texts."""
        if self.fast is None:
            encodings = self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
            return concatenate_documents([np.asarray(e.ids, np.uint32) for e in encodings], self.bos_id, self.eos_id)
        spans = [reference_spans(text, self.by_paragraph) for text in texts]
        flat = [span for document in spans for span in document]
        reference = [text for text, flag in flat if flag]
        fast = iter(self._map(self._encode_fast, [text for text, flag in flat if not flag]))
        slow = iter(self.tokenizer.encode_batch_fast(reference, add_special_tokens=False) if reference else [])
        ids = [[np.asarray(next(slow).ids, np.uint32) if flag else next(fast) for _, flag in document]
               for document in spans]
        self.reference_documents += sum(any(flag for _, flag in document) for document in spans)
        self.reference_characters += sum(map(len, reference))
        return concatenate_documents([parts[0] if len(parts) == 1 else np.concatenate(parts) for parts in ids],
                                     self.bos_id, self.eos_id)

    def _encode_fast(self, text: str) -> np.ndarray:
        return self.fast.encode_to_numpy(text, allowed_special=self.fast.special_tokens_set)

    def _map(self, function, items: list) -> Iterable:
        """One core: a plain loop (no pool thread); more: tiktoken releases the GIL."""
        if self.threads == 1:
            return map(function, items)
        with ThreadPoolExecutor(self.threads) as pool:
            return list(pool.map(function, items))


def concatenate_documents(ids: list[np.ndarray], bos_id: int, eos_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, values) of BOS + ids + EOS per document."""
    offsets = np.zeros(len(ids) + 1, np.int64)
    np.cumsum([len(x) + 2 for x in ids], out=offsets[1:])
    values = np.empty(offsets[-1], np.uint32)
    values[offsets[:-1]] = bos_id
    values[offsets[1:] - 1] = eos_id
    for document, start, stop in zip(ids, offsets[:-1], offsets[1:]):
        values[start + 1:stop - 1] = document
    return offsets, values


def special_token_ids(config: dict, where: Path) -> tuple[int, int]:
    """BOS/EOS ids from a HF model config (Llama-3.1's eos may be a list: take the first)."""
    ids = []
    for key in ("bos_token_id", "eos_token_id"):
        value = config.get(key)
        value = value[0] if isinstance(value, list) else value
        if not isinstance(value, int):
            raise SourceError(f"{where}: field {key!r} is {value!r}; the base model config must name its "
                              "BOS and EOS token ids")
        ids.append(value)
    return ids[0], ids[1]


def batched(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def tokenize_shard(name: str, source: dict, paths_file: str, shard: int, shards: int, model_dir: str,
                   seq_len: int, out: str, batch_size: int = 1024, threads: int = 1) -> dict:
    """Write `out` (Arrow IPC, one row per document) and `out`.json (stats); return the stats."""
    encoder = DocumentEncoder(model_dir, threads)
    files = shard_files(paths_file, shard, shards)
    documents = read_documents(name, source, files)
    source_name = pa.scalar(name, pa.string())  # pyarrow's first conversion imports pandas (~1 s): start-up
    start, cpu_start = time.perf_counter(), time.process_time()  # after start-up: tokenizer loaded, reader built
    progress = RateLogger(f"tokenize {name} {shard}/{shards}", expected_documents(name, source, files), "docs")
    stats = {"source": name, "shard": shard, "shards": shards, "files": files, "rows": 0, "tokens": 0,
             "text_bytes": 0, "long_documents": 0, "max_document_tokens": 0}
    with atomic_path(out) as tmp:
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, DOCUMENT_SCHEMA) as writer:
            for batch in batched(documents, batch_size):
                texts = [doc.text for doc in batch]
                offsets, values = encoder.encode(texts)
                lengths = np.diff(offsets)
                writer.write_batch(pa.record_batch([
                    pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(values)),
                    pa.repeat(source_name, len(batch)),
                    pa.array([doc.id for doc in batch], pa.string()),
                ], schema=DOCUMENT_SCHEMA))
                text_bytes = sum(len(t.encode("utf-8")) for t in texts)
                stats["rows"] += len(batch)
                stats["tokens"] += int(offsets[-1])
                stats["text_bytes"] += text_bytes
                stats["long_documents"] += int((lengths > seq_len).sum())
                stats["max_document_tokens"] = max(stats["max_document_tokens"], int(lengths.max()))
                progress.update(len(batch), tokens=int(offsets[-1]), bytes=text_bytes)
        stats["sha256"] = sha256_file(tmp)
        stats["bytes"] = tmp.stat().st_size
    stats["tokenizer_sha256"] = encoder.tokenizer_sha256
    stats["tokenizer_path"] = "tiktoken" if encoder.fast else "tokenizers"
    stats["reference_documents"] = encoder.reference_documents  # with a paragraph encoded by tokenizers
    stats["reference_characters"] = encoder.reference_characters
    stats["seconds"] = round(time.perf_counter() - start, 3)
    stats["cpu_seconds"] = round(time.process_time() - cpu_start, 3)  # what other jobs on the node do not inflate
    if progress.total is not None and progress.total > stats["rows"]:  # parquet: rows known up front
        stats["skipped_documents"] = progress.total - stats["rows"]
        log.warning("skipped %d of %d documents: empty text, or not UTF-8 under encoding_errors: skip",
                    stats["skipped_documents"], progress.total)  # read + encode + write, after the tokenizer loaded
    stats["bos_id"], stats["eos_id"] = encoder.bos_id, encoder.eos_id
    progress.finish()
    write_json(f"{out}.json", stats)
    return stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="source name (config data.sources key)")
    parser.add_argument("--spec", required=True, help="the source's config entry as JSON")
    parser.add_argument("--paths-file", required=True, help="the source's file listing")
    parser.add_argument("--shard", type=int, required=True)
    parser.add_argument("--shards", type=int, required=True)
    parser.add_argument("--model-dir", required=True, help="HF model dir with tokenizer.json and config.json")
    parser.add_argument("--seq-len", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=1, help="the job's cores (the rule's threads)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cap_threads(args.threads)
    tokenize_shard(args.name, json.loads(args.spec), args.paths_file, args.shard, args.shards, args.model_dir,
                   args.seq_len, args.out, args.batch_size, args.threads)


if __name__ == "__main__":
    main()
