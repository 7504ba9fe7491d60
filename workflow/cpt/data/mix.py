"""Mix tokenized sources into packed training rows, as many independent jobs.

Three steps, each a Snakemake rule:
  plan     reads every tokenized shard's stats once (the fan-in) and fixes, for
           each mixed shard, how many documents it takes from each source and
           where in that source's shuffled stream they start;
  shard j  realizes mixed shard j from the plan alone (the fan-out): documents of
           source s at stream positions [start, start + count) -- epoch e is a
           seeded permutation of its blocks of `block_documents` neighbouring
           documents, so a source that runs out starts its next epoch --
           interleaved in a seeded random order, joined (each already ends in
           EOS) and cut into rows of seq_len + 1 tokens;
  manifest gathers the shards' stats: rows, hashes, row and token shares, epochs.

Why blocks: a mixed shard takes ~1 document in 700 of every tokenized shard, so a
permutation of single documents costs a disk access per document on Orion (priced in
cpt.plan.mix_io). A permutation of blocks makes a shard's documents of a source whole
blocks, read as few large extents; the shard then shuffles its documents within each read
window of ~READ_CHUNK_BYTES (`window_documents` slots), so a training batch still mixes
documents of hundreds of blocks per source. block_documents: 1 is the document-level
shuffle, byte-identical to shards mixed before blocks existed (no window shuffle then).

Documents are drawn by rows (each document picks source s with probability w_s,
as the seed did) or by tokens (probability proportional to w_s / mean length,
so that token shares approach the weights). A mixed shard takes the number of
documents expected to fill its target rows; when heavy-tailed lengths leave it short, it
reads on along the same source streams until it fills them (see `_fill`), so every shard
holds exactly its target rows; the tail beyond them is dropped and counted.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa

from cpt.atomic import atomic_path, sha256_file, write_json
from cpt.data.extents import READS_IN_FLIGHT, TOKEN_BYTES, ReadCount, TokenizedFile
from cpt.data.formats import MANIFEST_FORMAT, packed_schema
from cpt.data.permutation import permute
from cpt.progress import RateLogger

log = logging.getLogger("cpt")
PLAN_FORMAT = "cpt-mix-plan/2"  # 2: block_documents, window_documents
_BATCH_BYTES = 16 << 20  # Arrow record batches of ~16 MB: large enough to stream, small to memory-map
READ_CHUNK_BYTES = 1 << 30  # a read window's documents (expected): a worker's buffer, 56 of them on a node
READ_GAP_BYTES = 1 << 20  # read through gaps under this: on disk, cheaper than another request (~8 ms at ~0.5 GB/s)


class MixError(ValueError):
    """The tokenized inputs cannot be mixed as configured; the message names the file and the fix."""


# --- plan ------------------------------------------------------------------------------

def draw_probabilities(weights: dict[str, float], mean_tokens: dict[str, float], weighting: str) -> dict[str, float]:
    """Per-document source probabilities that realize the weights by rows or by tokens."""
    if weighting == "rows":
        raw = dict(weights)
    else:
        raw = {name: weight / mean_tokens[name] for name, weight in weights.items()}
    total = sum(raw.values())
    return {name: value / total for name, value in raw.items()}


def load_source_stats(name: str, stats_paths: list[str], tokenizer_sha256: str) -> dict:
    """Totals of a source's tokenized shards; refuses shards of another tokenizer."""
    files, rows, tokens = [], [], 0
    for stats_path in sorted(stats_paths):
        stats = json.loads(Path(stats_path).read_text())
        if stats["tokenizer_sha256"] != tokenizer_sha256:
            raise MixError(f"{stats_path}: field 'tokenizer_sha256' ({stats['tokenizer_sha256'][:12]}...) differs "
                           f"from the model's tokenizer.json ({tokenizer_sha256[:12]}...); this shard was tokenized "
                           f"for another model: rerun the tokenize jobs of source {name}")
        files.append(str(Path(stats_path).with_suffix("")))  # <shard>.arrow.json -> <shard>.arrow
        rows.append(stats["rows"])
        tokens += stats["tokens"]
    if sum(rows) == 0:
        raise MixError(f"source {name}: its tokenized shards hold no document (stats: {sorted(stats_paths)[0]} ...); "
                       f"the files matched by data.sources.{name}.glob are empty or have empty text; fix the "
                       f"source or remove it from data.sources")
    return {"files": files, "file_rows": rows, "documents": sum(rows), "tokens": tokens}


def make_plan(sources: dict[str, list[str]], weights: dict[str, float], *, seed: int, weighting: str,
              seq_len: int, shard_rows: list[int], rows_needed: int, tokenizer_sha256: str,
              block_documents: int = 1) -> dict:
    """The whole mix, fixed up front: per mixed shard, documents per source and stream starts; the
    read window is ~READ_CHUNK_BYTES of documents at the mix's mean length."""
    stats = {name: load_source_stats(name, paths, tokenizer_sha256) for name, paths in sources.items()}
    mean_tokens = {name: s["tokens"] / s["documents"] for name, s in stats.items()}
    probabilities = draw_probabilities(weights, mean_tokens, weighting)
    names = sorted(stats)
    p = np.array([probabilities[name] for name in names])
    tokens_per_document = float(p @ np.array([mean_tokens[name] for name in names]))
    start = dict.fromkeys(names, 0)
    shards = []
    for index, rows in enumerate(shard_rows):
        documents = max(1, round(rows * (seq_len + 1) / tokens_per_document))
        counts = np.random.default_rng([seed, index, 0]).multinomial(documents, p)
        shards.append({"index": index, "target_rows": rows,
                       "documents": {name: int(c) for name, c in zip(names, counts)},
                       "start": dict(start)})
        for name, count in zip(names, counts):
            start[name] += int(count)
    for name in names:
        stats[name]["epochs"] = start[name] / stats[name]["documents"]
    return {"format": PLAN_FORMAT, "seed": seed, "weighting": weighting, "weights": weights,
            "probabilities": probabilities, "seq_len": seq_len, "rows_needed": rows_needed,
            "block_documents": block_documents,
            "window_documents": max(1, round(READ_CHUNK_BYTES / (TOKEN_BYTES * tokens_per_document))),
            "tokenizer_sha256": tokenizer_sha256, "sources": stats, "shards": shards}


# --- one mixed shard ---------------------------------------------------------------------

class SourceStream:
    """Documents of one source in its shuffled, epoch-repeating order, located in its tokenized files.
    An epoch is a permutation of the source's whole blocks of `block` documents, each in its order,
    then the remainder (under `block` documents) in its order."""

    def __init__(self, name: str, source_index: int, seed: int, stats: dict, count: ReadCount, block: int):
        self.name, self.seed, self.source_index, self.block = name, seed, source_index, block
        self.documents = stats["documents"]
        self.file_starts = np.cumsum([0] + stats["file_rows"])
        self.files = [TokenizedFile(path, count) if rows else None
                      for path, rows in zip(stats["files"], stats["file_rows"])]

    def locate(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(file index, row in it) of the documents at stream `positions`."""
        epochs, within = np.divmod(positions, self.documents)
        order = within.astype(np.uint64)  # the remainder past the whole blocks stays in its order
        blocks = self.documents // self.block
        in_blocks = within < blocks * self.block
        for epoch in np.unique(epochs):
            chosen = np.flatnonzero((epochs == epoch) & in_blocks)
            block, offset = np.divmod(within[chosen], self.block)
            order[chosen] = permute(block, blocks, [self.seed, self.source_index, int(epoch)]) * np.uint64(self.block) \
                + offset.astype(np.uint64)
        files = np.searchsorted(self.file_starts, order, side="right") - 1
        return files, (order - self.file_starts[files].astype(np.uint64)).astype(np.int64)

    def spans(self, positions: np.ndarray, pool: ThreadPoolExecutor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(file index, byte position, tokens) of the documents at stream `positions`; the offsets
        are read file by file, in ascending rows, several files at once."""
        files, rows = self.locate(positions)
        at, lengths = np.empty(len(rows), np.int64), np.empty(len(rows), np.int64)
        groups = list(_groups(files))
        for (_, mine), (file_at, file_lengths) in zip(groups, pool.map(
                lambda group: self.files[group[0]].spans(rows[group[1]]), groups)):
            at[mine], lengths[mine] = file_at, file_lengths
        return files, at, lengths

    def close(self) -> None:
        for file in self.files:
            if file is not None:
                file.close()


def _groups(keys: np.ndarray):
    """(key, indices) for each distinct key, ascending; indices in their original order."""
    order = np.argsort(keys, kind="stable")
    bounds = np.flatnonzero(np.diff(keys[order])) + 1
    for part in np.split(order, bounds) if len(order) else []:
        yield int(keys[part[0]]), part


def source_index(name: str) -> int:
    """A stable number per source name (sorted order would change when a source is added)."""
    return zlib.crc32(name.encode())


def mix_shard(plan: dict, index: int, out: str) -> dict:
    """Write mixed shard `index` of `plan` to `out` and its stats to `out`.json."""
    if plan.get("format") != PLAN_FORMAT:
        raise MixError(f"mix plan format {plan.get('format')!r}, this code reads {PLAN_FORMAT!r}: the plan was made by "
                       f"another version; remake it and its shards (snakemake --forcerun mix_plan)")
    shard = plan["shards"][index]
    seq_len, seed = plan["seq_len"], plan["seed"]
    row_tokens = seq_len + 1
    names = sorted(n for n, count in shard["documents"].items() if count)
    labels = np.concatenate([np.full(shard["documents"][n], i, np.int64) for i, n in enumerate(names)])
    labels = np.random.default_rng([seed, index, 1]).permutation(labels)
    count = ReadCount()
    streams = [SourceStream(name, source_index(name), seed, plan["sources"][name], count, plan["block_documents"])
               for name in names]
    pool = ThreadPoolExecutor(READS_IN_FLIGHT)
    window = plan["window_documents"]
    shuffle = np.random.default_rng([seed, index, 2]) if plan["block_documents"] > 1 else None
    slots, top_up_rounds = _fill(shard, names, labels, streams, shard["target_rows"] * row_tokens, pool,
                                 window, shuffle)
    round_slots = len(labels)
    labels, lengths = slots["source"], slots["tokens"]
    rows = shard["target_rows"]
    kept_tokens = rows * row_tokens
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    stats = {"index": index, "rows": rows, "tokens": kept_tokens, "dropped_tokens": int(lengths.sum()) - kept_tokens,
             "top_up_rounds": top_up_rounds, "sources": {}}
    if top_up_rounds:
        log.info("mix shard %d: its planned documents fell short of %d rows (heavy-tailed lengths); topped up "
                 "with %d more round(s) of its sources' streams", index, rows, top_up_rounds)
    for i, name in enumerate(names):
        mine = labels == i
        stats["sources"][name] = {
            "documents": int((starts[mine] < kept_tokens).sum()),
            "tokens": int(np.clip(kept_tokens - starts[mine], 0, lengths[mine]).sum()),
        }
    try:
        _write_packed(out, _documents_in_order(slots, streams, pool, _windows(round_slots, window, len(lengths))),
                      rows, row_tokens, f"mix shard {index}")
    finally:
        pool.shutdown()
        for stream in streams:
            stream.close()
    stats["reads"] = {"calls": count.calls, "bytes": count.bytes, "layout_calls": count.layout_calls,
                      "calls_per_row": count.calls / rows, "bytes_per_row": count.bytes / rows}
    log.info("mix shard %d: %d reads of %.1f GB (%.2f reads, %.0f bytes per row) and %d layout reads", index,
             count.calls, count.bytes / 1e9, count.calls / rows, count.bytes / rows, count.layout_calls)
    stats["sha256"] = sha256_file(out)
    stats["bytes"] = Path(out).stat().st_size
    write_json(f"{out}.json", stats)
    return stats


def _fill(shard: dict, names: list[str], labels: np.ndarray, streams: list[SourceStream], tokens: int,
          pool: ThreadPoolExecutor, window: int,
          shuffle: np.random.Generator | None) -> tuple[dict[str, np.ndarray], int]:
    """Where the shard's documents lie, in output order: its planned documents in `labels` order,
    then, while they hold fewer than `tokens`, further rounds of the same size read on along each
    source's stream (the same permutation, so the top-up is fixed by the plan), the last round cut
    at the first document that fills it. With `shuffle`, a source's documents are shuffled within
    each read window of `window` slots (their stream positions stay one range per window, so whole
    blocks). Only token offsets are read here; returns per slot its source, file, byte position and
    tokens, and the number of top-up rounds."""
    parts: list[dict[str, np.ndarray]] = []
    total, rounds = 0, 0
    while True:
        part = {"source": labels, **{key: np.empty(len(labels), np.int64) for key in ("file", "at", "tokens")}}
        for i, (name, stream) in enumerate(zip(names, streams)):
            count = shard["documents"][name]
            start = shard["start"][name] + rounds * count
            mine = np.flatnonzero(labels == i)
            positions = np.arange(start, start + count, dtype=np.uint64)
            if shuffle is not None:  # mine ascend, so their windows do: sort each window's positions randomly
                positions = positions[np.lexsort((shuffle.random(count), mine // window))]
            part["file"][mine], part["at"][mine], part["tokens"][mine] = stream.spans(positions, pool)
        reached = total + np.cumsum(part["tokens"])
        if rounds and reached[-1] >= tokens:  # a top-up round ends at the document that fills the shard
            part = {key: value[:int(np.searchsorted(reached, tokens)) + 1] for key, value in part.items()}
        parts.append(part)
        total = int(reached[len(part["tokens"]) - 1])
        if total >= tokens:
            return {key: np.concatenate([p[key] for p in parts]) for key in part}, rounds
        rounds += 1


def _windows(round_slots: int, window: int, slots: int) -> Iterator[tuple[int, int]]:
    """(first, last) slots of each read window: `window` slots at a time within each round of
    `round_slots` (a top-up round starts a window), over `slots` in all."""
    for round_start in range(0, slots, round_slots):
        for first in range(round_start, min(round_start + round_slots, slots), window):
            yield first, min(first + window, round_start + round_slots, slots)


def _documents_in_order(slots: dict[str, np.ndarray], streams: list[SourceStream], pool: ThreadPoolExecutor,
                        windows: Iterable[tuple[int, int]]) -> Iterator[np.ndarray]:
    """The documents of `slots` in order, read a window at a time: within a window, file by file
    (several at once), each front to back in extents (cpt.data.extents)."""
    for first, last in windows:
        chunk: list[np.ndarray] = [None] * (last - first)
        at, lengths = slots["at"][first:last], slots["tokens"][first:last]
        groups = list(_groups(slots["source"][first:last] * (1 << 32) + slots["file"][first:last]))
        files = [streams[key >> 32].files[key & 0xFFFFFFFF] for key, _ in groups]
        for (_, mine), docs in zip(groups, pool.map(
                lambda file, mine, at=at, lengths=lengths: file.documents(at[mine], lengths[mine], READ_GAP_BYTES),
                files, [mine for _, mine in groups])):
            for slot, doc in zip(mine, docs):
                chunk[slot] = doc
        yield from chunk


def _write_packed(out: str, documents: Iterable[np.ndarray], rows: int, row_tokens: int, what: str) -> None:
    """Concatenate documents and write `rows` rows of `row_tokens`, streaming in ~16 MB batches."""
    batch_rows = max(1, _BATCH_BYTES // (4 * row_tokens))
    schema = packed_schema(row_tokens - 1)
    progress = RateLogger(what, rows, "rows")
    pending: list[np.ndarray] = []
    pending_tokens = written = 0
    with atomic_path(out) as tmp:
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:

            def flush() -> None:
                nonlocal pending, pending_tokens, written
                take = min(batch_rows, rows - written, pending_tokens // row_tokens)
                flat = np.concatenate(pending)
                body = pa.array(flat[:take * row_tokens], pa.uint32())
                writer.write_batch(pa.record_batch([pa.FixedSizeListArray.from_arrays(body, row_tokens)],
                                                   schema=schema))
                pending = [flat[take * row_tokens:]]
                pending_tokens -= take * row_tokens
                written += take
                progress.update(take)

            for doc in documents:
                pending.append(doc)
                pending_tokens += len(doc)
                while pending_tokens >= batch_rows * row_tokens and written < rows:
                    flush()
            while written < rows:  # rows = total tokens // row_tokens, so this drains to the dropped tail
                flush()
    progress.finish()


# --- manifest ----------------------------------------------------------------------------

def make_manifest(plan: dict, shard_stats_paths: list[str], manifest_path: str) -> dict:
    """Aggregate the mixed shards' stats into the manifest the trainer reads."""
    root = Path(manifest_path).parent
    shards = [json.loads(Path(p).read_text()) for p in sorted(shard_stats_paths)]
    rows = sum(s["rows"] for s in shards)
    tokens = sum(s["tokens"] for s in shards)
    documents = sum(src["documents"] for s in shards for src in s["sources"].values())
    sources = {}
    for name, available in plan["sources"].items():
        produced_documents = sum(s["sources"].get(name, {}).get("documents", 0) for s in shards)
        produced_tokens = sum(s["sources"].get(name, {}).get("tokens", 0) for s in shards)
        sources[name] = {
            "weight": plan["weights"][name],
            "documents": produced_documents,
            "tokens": produced_tokens,
            "row_share": produced_documents / documents if documents else 0.0,
            "token_share": produced_tokens / tokens if tokens else 0.0,
            "available_documents": available["documents"],
            "available_tokens": available["tokens"],
            "epochs": available["epochs"],
            "epochs_started": math.ceil(available["epochs"]),
        }
    planned = sum(s["target_rows"] for s in plan["shards"])
    if rows < min(plan["rows_needed"], planned):
        raise MixError(f"{manifest_path}: the mixed shards hold {rows} rows but training needs "
                       f"{plan['rows_needed']} and the plan asked for {planned}; a mixed shard came out short: "
                       f"rerun the mix_shard jobs (snakemake --forcerun mix_shard)")
    if rows < plan["rows_needed"]:
        log.warning("the mix holds %d rows but training needs %d, as data.mix.max_tokens asked; the trainer "
                    "will reread it", rows, plan["rows_needed"])
    manifest = {
        "format": MANIFEST_FORMAT, "seed": plan["seed"], "weighting": plan["weighting"], "weights": plan["weights"],
        "seq_len": plan["seq_len"], "tokenizer_sha256": plan["tokenizer_sha256"],
        "rows": rows, "rows_needed": plan["rows_needed"], "tokens": tokens, "documents": documents,
        "dropped_tokens": sum(s["dropped_tokens"] for s in shards),
        "sources": sources,
        "shards": [{"path": str(Path(p).with_suffix("").resolve().relative_to(root.resolve())),
                    "rows": s["rows"], "sha256": s["sha256"]} for p, s in zip(sorted(shard_stats_paths), shards)],
    }
    write_json(manifest_path, manifest)
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = parser.add_subparsers(dest="step", required=True)
    plan_p = steps.add_parser("plan", help="fix every mixed shard's documents from the tokenized stats")
    plan_p.add_argument("--stats", nargs="+", required=True, help="tokenized <shard>.arrow.json files")
    plan_p.add_argument("--tokenizer", required=True, help="the model's tokenizer.json")
    plan_p.add_argument("--settings", required=True,
                        help="JSON: weights, seed, weighting, seq_len, shard_rows, rows_needed")
    plan_p.add_argument("--out", required=True)
    shard_p = steps.add_parser("shard", help="write one mixed shard")
    shard_p.add_argument("--plan", required=True)
    shard_p.add_argument("--index", type=int, required=True)
    shard_p.add_argument("--out", required=True)
    manifest_p = steps.add_parser("manifest", help="gather the mixed shards into manifest.json")
    manifest_p.add_argument("--plan", required=True)
    manifest_p.add_argument("--stats", nargs="+", required=True, help="mixed <shard>.arrow.json files")
    manifest_p.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.step == "plan":
        settings = json.loads(args.settings)
        by_source: dict[str, list[str]] = {name: [] for name in settings["weights"]}
        for path in args.stats:
            by_source[json.loads(Path(path).read_text())["source"]].append(path)
        write_json(args.out, make_plan(by_source, **settings, tokenizer_sha256=sha256_file(args.tokenizer)))
    elif args.step == "shard":
        mix_shard(json.loads(Path(args.plan).read_text()), args.index, args.out)
    else:
        make_manifest(json.loads(Path(args.plan).read_text()), args.stats, args.out)


if __name__ == "__main__":
    main()
