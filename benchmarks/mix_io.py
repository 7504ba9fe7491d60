"""Mix-shard reads: read calls and bytes per mixed row, before issue 24, now, and with blocks.

    python benchmarks/mix_io.py [--rows 20] [--seq-len 1023] [--doc-tokens 64] [--density 700] [--block 256]
    python benchmarks/mix_io.py --plan results/demo/data/mix/plan.json   # a real plan (the demo's)

Before: each document is a view into a memory map of its tokenized shard, touched in the mix's
order; every touch faults at least the page of its two offsets and the pages of its tokens
(more with readahead), at a random place of a random file. Counted here by a wrapper around that
reader (a copy of it below): one read per offsets page and per run of token pages, bytes in 4 KB
pages, in the order the writer touches them. Now: cpt.data.extents counts its own positioned
reads (ReadCount); a wrapper around TokenizedFile.read records their order. A "seek" is a file's
first read or a read that starts before the end of the same file's previous read. Both arms write the
mixed shard; their sha256 must agree. Blocks: the same reader on a plan whose sources' shuffle moves
blocks of `--block` neighbouring documents (data.mix.block_documents): other shards, read as extents.

Synthetic default: inputs sized so that a mixed shard takes 1 in `--density` documents of each
(at the reference, ~8.5M documents of 1,200 shards of ~5M: ~1 in 700), documents of
`--doc-tokens` with the read-gap threshold scaled by the same factor as the documents (1,000 ->
`--doc-tokens` tokens), so gaps between wanted documents compare to it as at the reference.
The mixed shard is read in `--passes` windows, as the reference's 34 GB shards are in 1 GiB
ones. Prints reads per document and bytes read per token wanted: the planner's
slurm.planner.mix_io.reads_per_document and read_amplification.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from cpt.atomic import write_json
from cpt.data import extents, mix
from cpt.data.formats import DOCUMENT_SCHEMA, DocumentShard
from cpt.data.permutation import permute

PAGE = 4096
REFERENCE_DOC_TOKENS = 1000


# --- the reader before issue 24 (cpt/data/mix.py at main before it), instrumented -------

class Trace:
    """Reads as they come: calls, bytes and seeks (a file's first read, or one that starts before
    the end of the file's previous read: a jump back)."""

    def __init__(self):
        self.calls = self.bytes = self.seeks = 0
        self.last: dict = {}  # file -> end of its previous read
        self.lock = threading.Lock()  # the new reader reads several files at once

    def read(self, file: str, position: int, size: int) -> None:
        with self.lock:
            self.calls += 1
            self.bytes += size
            if file not in self.last or position < self.last[file]:
                self.seeks += 1
            self.last[file] = position + size


class TracedDocumentShard(DocumentShard):
    """The old reader. `document` touches the offsets page (counted now) and returns the view with
    where its tokens lie; their pages are counted when the writer touches them, in its order."""

    def __init__(self, path, trace: Trace):
        super().__init__(path)
        self.trace, self.key = trace, str(path)
        self.layout = extents.TokenizedFile(path, extents.ReadCount())  # file positions of the buffers only

    def document(self, row: int) -> tuple[np.ndarray, str, int]:
        doc = super().document(row)
        batch = int(np.searchsorted(self._starts, row, side="right")) - 1
        local = row - self._starts[batch]
        touch(self.trace, self.key, int(self.layout.offsets_at[batch]) + 4 * local, 8)
        return doc, self.key, int(self.layout.values_at[batch]) + 4 * int(self._offsets[batch][local])


def touch(trace: Trace, key: str, position: int, size: int) -> None:
    """A memory-map access of `size` bytes at `position`: the pages it faults in (at least)."""
    first, last = position // PAGE, (position + max(size, 1) - 1) // PAGE
    trace.read(key, first * PAGE, (last - first + 1) * PAGE)


def old_documents(plan: dict, index: int, trace: Trace) -> list[np.ndarray]:
    """The documents of the old mix_shard in the writer's order (its SourceStream and _fill, the
    same logic), with each one's token pages counted as the writer touches them."""
    shard, seed = plan["shards"][index], plan["seed"]
    names = sorted(n for n, count in shard["documents"].items() if count)
    labels = np.concatenate([np.full(shard["documents"][n], i, np.int64) for i, n in enumerate(names)])
    labels = np.random.default_rng([seed, index, 1]).permutation(labels)
    tokens = shard["target_rows"] * (plan["seq_len"] + 1)

    def documents_at(name: str, positions: np.ndarray) -> list:
        stats = plan["sources"][name]
        shards = opened.setdefault(name, [TracedDocumentShard(p, trace) if r else None
                                          for p, r in zip(stats["files"], stats["file_rows"])])
        file_starts = np.cumsum([0] + stats["file_rows"])
        epochs, within = np.divmod(positions, stats["documents"])
        order = np.empty(len(positions), np.uint64)
        for epoch in np.unique(epochs):
            chosen = epochs == epoch
            order[chosen] = permute(within[chosen], stats["documents"], [seed, mix.source_index(name), int(epoch)])
        files = np.searchsorted(file_starts, order, side="right") - 1
        rows = order - file_starts[files].astype(np.uint64)
        return [shards[f].document(int(r)) for f, r in zip(files, rows)]

    opened: dict = {}
    documents: list = []
    total, rounds = 0, 0
    while True:
        batch: list = [None] * len(labels)
        for i, name in enumerate(names):
            count = shard["documents"][name]
            start = shard["start"][name] + rounds * count
            for slot, doc in zip(np.flatnonzero(labels == i), documents_at(name, np.arange(start, start + count,
                                                                                           dtype=np.uint64))):
                batch[slot] = doc
        if rounds == 0:
            documents, total = batch, sum(len(d[0]) for d in batch)
        else:
            for doc in batch:
                documents.append(doc)
                total += len(doc[0])
                if total >= tokens:
                    break
        if total >= tokens:
            break
        rounds += 1
    for doc, key, position in documents:
        touch(trace, key, position, 4 * len(doc))
    return [doc for doc, _, _ in documents]


# --- the two arms ------------------------------------------------------------------------

def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_old(plan: dict, index: int, out: Path) -> dict:
    trace = Trace()
    start = time.perf_counter()
    shard = plan["shards"][index]
    mix._write_packed(str(out), old_documents(plan, index, trace), shard["target_rows"], plan["seq_len"] + 1, "old")
    return {"calls": trace.calls, "bytes": trace.bytes, "seeks": trace.seeks, "seconds": time.perf_counter() - start,
            "sha256": sha256(out)}


def run_new(plan: dict, index: int, out: Path) -> dict:
    trace = Trace()
    read = extents.TokenizedFile.read

    def traced(self, position: int, size: int) -> bytes:
        trace.read(str(self.path), position, size)
        return read(self, position, size)

    extents.TokenizedFile.read = traced
    try:
        start = time.perf_counter()
        stats = mix.mix_shard(plan, index, str(out))
    finally:
        extents.TokenizedFile.read = read
    assert (stats["reads"]["calls"], stats["reads"]["bytes"]) == (trace.calls, trace.bytes)
    return {"calls": trace.calls, "bytes": trace.bytes, "seeks": trace.seeks, "seconds": time.perf_counter() - start,
            "sha256": stats["sha256"], "sources": stats["sources"]}


def synthetic_plan(root: Path, rows: int, seq_len: int, doc_tokens: int, density: int, seed: int = 0) -> dict:
    """Three sources of four tokenized shards each (batches of 1,024 documents, as tokenize writes),
    holding `density` times the documents one mixed shard of `rows` takes."""
    rng = np.random.default_rng(seed)
    wanted = rows * (seq_len + 1) // doc_tokens
    stats_paths: dict[str, list[str]] = {}
    for name, share in (("a", 0.5), ("b", 0.3), ("c", 0.2)):
        for shard in range(4):
            count = max(1, int(wanted * density * share / 4))
            lengths = rng.geometric(1 / doc_tokens, count)
            values = rng.integers(2, 128_000, int(lengths.sum()), dtype=np.uint32)
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
            path = root / name / f"{shard:05d}.arrow"
            path.parent.mkdir(parents=True, exist_ok=True)
            with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, DOCUMENT_SCHEMA) as writer:
                for first in range(0, count, 1024):
                    last = min(first + 1024, count)
                    part = offsets[first:last + 1]
                    tokens = pa.ListArray.from_arrays(pa.array(part - part[0]), pa.array(values[part[0]:part[-1]]))
                    writer.write_batch(pa.record_batch([tokens, pa.array([name] * (last - first)),
                                                        pa.array([str(i) for i in range(first, last)])],
                                                       schema=DOCUMENT_SCHEMA))
            write_json(f"{path}.json", {"source": name, "rows": count, "tokens": int(lengths.sum()),
                                        "tokenizer_sha256": "t" * 64})
            stats_paths.setdefault(name, []).append(f"{path}.json")
    return mix.make_plan(stats_paths, {"a": 0.5, "b": 0.3, "c": 0.2}, seed=seed, weighting="rows", seq_len=seq_len,
                         shard_rows=[rows], rows_needed=rows, tokenizer_sha256="t" * 64)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20, help="rows of the synthetic mixed shard")
    parser.add_argument("--seq-len", type=int, default=1023)
    parser.add_argument("--doc-tokens", type=int, default=64, help="mean tokens per synthetic document")
    parser.add_argument("--density", type=int, default=700, help="input documents per document a mixed shard takes")
    parser.add_argument("--passes", type=int, default=32,
                        help="read windows per mixed shard (reference: 34 GB shard / 1 GiB mix.READ_CHUNK_BYTES)")
    parser.add_argument("--block", type=int, default=256, help="the blocks arm's data.mix.block_documents")
    parser.add_argument("--plan", type=Path, help="a mix plan.json: every shard of it, at the real read gap")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.plan:
            plan = json.loads(args.plan.read_text())
            what = f"{args.plan} ({len(plan['shards'])} shards)"
        else:
            mix.READ_GAP_BYTES = mix.READ_GAP_BYTES * args.doc_tokens // REFERENCE_DOC_TOKENS
            mix.READ_CHUNK_BYTES = args.rows * (args.seq_len + 1) * extents.TOKEN_BYTES // args.passes
            plan = synthetic_plan(tmp / "tok", args.rows, args.seq_len, args.doc_tokens, args.density)
            what = (f"synthetic: {args.rows} rows of {args.seq_len + 1} tokens, documents of ~{args.doc_tokens} "
                    f"tokens, 1 in {args.density} of each input taken, read gap {mix.READ_GAP_BYTES:,} B, "
                    f"{args.passes} read windows of {plan['window_documents']:,} documents")
        plans = {"old": {**plan, "block_documents": 1}, "new": {**plan, "block_documents": 1},
                 "blocks": {**plan, "block_documents": args.block}}
        totals = {arm: dict.fromkeys(("calls", "bytes", "seeks", "seconds", "documents"), 0.0) for arm in plans}
        same = True
        for index in range(len(plan["shards"])):
            results = {arm: (run_old if arm == "old" else run_new)(plans[arm], index, tmp / f"{arm}-{index}.arrow")
                       for arm in plans}
            same &= results["old"]["sha256"] == results["new"]["sha256"]
            for arm, result in results.items():
                result["documents"] = sum(s["documents"] for s in results["new" if arm == "old" else arm]
                                          ["sources"].values())
                for key in totals[arm]:
                    totals[arm][key] += result[key]
    rows = sum(shard["target_rows"] for shard in plan["shards"])
    wanted = rows * (plan["seq_len"] + 1) * extents.TOKEN_BYTES  # bytes of the tokens the shards hold
    print(what)
    print(f"  {'':52s} {'reads/row':>10s} {'KB/row':>8s} {'seeks/row':>10s} {'reads/doc':>10s} "
          f"{'read/wanted':>12s} {'s (page cache)':>15s}")
    for arm, label in (("old", "old: memory map, documents in the mix's order"),
                       ("new", "now: per file, ascending, in extents"),
                       ("blocks", f"blocks of {args.block} documents: same reader")):
        t = totals[arm]
        print(f"  {label:52s} {t['calls'] / rows:10.2f} {t['bytes'] / rows / 1e3:8.1f} {t['seeks'] / rows:10.2f} "
              f"{t['calls'] / t['documents']:10.4f} {t['bytes'] / wanted:12.2f} {t['seconds']:15.2f}")
    old, new, blocks = totals["old"], totals["new"], totals["blocks"]
    print(f"  ratio old / now: reads {old['calls'] / new['calls']:.2f}x, bytes {old['bytes'] / new['bytes']:.2f}x, "
          f"seeks {old['seeks'] / new['seeks']:.2f}x")
    print(f"  ratio now / blocks: reads {new['calls'] / blocks['calls']:.1f}x, "
          f"bytes {new['bytes'] / blocks['bytes']:.2f}x, seeks {new['seeks'] / blocks['seeks']:.1f}x")
    print(f"  mixed shards of old and now byte-identical (sha256): {same}")
    if not same:
        raise SystemExit("the new reader wrote a different mixed shard")


if __name__ == "__main__":
    main()
