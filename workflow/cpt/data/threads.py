"""Thread pools sized to the job's cores, not the node's.

A tokenize process gets one core of a node job that runs 56 of them at once (cpt.data.group,
which also gives each process one core's OpenMP/BLAS threads). The pools neither knows are
capped here, before any of them starts: tokenizers' Rayon pool (RAYON_NUM_THREADS;
TOKENIZERS_PARALLELISM off on one core) and Arrow's CPU and I/O pools.
"""

from __future__ import annotations

import logging
import os

import pyarrow as pa

log = logging.getLogger("cpt")


def cap_threads(threads: int) -> None:
    """Size every pool of this process to `threads` (call before the first encode or read)."""
    os.environ["RAYON_NUM_THREADS"] = str(threads)  # read when Rayon's global pool first starts
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if threads > 1 else "false"
    pa.set_cpu_count(threads)
    pa.set_io_thread_count(threads)
    log.info("thread pools capped to %d (Rayon, tokenizers, Arrow cpu/io)", threads)
