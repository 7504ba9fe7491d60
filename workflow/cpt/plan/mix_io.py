"""A mix_shard job's time reading its inputs from Orion: its read calls and bytes, priced.

A mixed shard takes a sparse sample of every tokenized shard (at the reference ~1 document in
700). A shuffle of single documents (data.mix.block_documents: 1) pays about one read per document
even read file by file in ascending order (cpt.data.extents); a shuffle of blocks pays a few reads
per block (cpt.data.mix). benchmarks/mix_io.py measures both, and bytes read per token wanted.
Orion keeps a file's data past its first 8 MB on its disk tier, so each read is priced at a disk
access (slurm.planner.mix_io, with its sources).
"""

from __future__ import annotations

from cpt.data.extents import READS_IN_FLIGHT, TOKEN_BYTES


def mix_shard_read_hours(config: dict, rows: int, tokens_per_document: float) -> float:
    """Hours one mix_shard job of `rows` packed rows spends reading: documents x (reads per document
    x per-read latency / the reads it keeps in flight + bytes read per document / its bandwidth).
    `tokens_per_document`: the mix's mean (its tokens over its documents, cpt.plan.sources.mix_usage)."""
    io = config["slurm"]["planner"]["mix_io"]
    documents = rows * (config["data"]["seq_len"] + 1) / tokens_per_document
    per_document = (reads_per_document(config) * io["read_latency_ms"] / 1e3 / READS_IN_FLIGHT
                    + io["read_amplification"] * TOKEN_BYTES * tokens_per_document / (io["read_gb_per_s"] * 1e9))
    return documents * per_document / 3600


def reads_per_document(config: dict) -> float:
    """Read calls per document mixed: a few per block of data.mix.block_documents, never more than
    a shuffle of single documents pays."""
    io = config["slurm"]["planner"]["mix_io"]
    return min(io["reads_per_document"], io["reads_per_block"] / config["data"]["mix"]["block_documents"])
