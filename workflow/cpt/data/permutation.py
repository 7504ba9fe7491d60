"""A seeded permutation of [0, n) evaluated at any positions, without materializing it.

Each mixed shard needs documents k..k+m of a source's shuffled order, for sources
of billions of documents: np.random.permutation(n) per job would cost tens of GB.
A 4-round Feistel network over the next even power of two, with cycle walking
back into [0, n), is a bijection computed elementwise in numpy.
"""

from __future__ import annotations

import numpy as np

_ROUNDS = 4
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: a cheap, well-mixed hash of uint64 values (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def permute(positions: np.ndarray, n: int, seed: list[int]) -> np.ndarray:
    """Images of `positions` (each in [0, n)) under the permutation of [0, n) named by `seed`."""
    positions = np.asarray(positions, np.uint64)
    if n <= 1:
        return np.zeros_like(positions)
    half = max(1, ((n - 1).bit_length() + 1) // 2)
    mask = np.uint64((1 << half) - 1)
    keys = np.random.SeedSequence(seed).generate_state(_ROUNDS, np.uint64)

    def encrypt(x: np.ndarray) -> np.ndarray:
        left, right = x >> np.uint64(half), x & mask
        for key in keys:
            left, right = right, left ^ (_splitmix(right ^ key) & mask)
        return (left << np.uint64(half)) | right

    out = encrypt(positions)
    outside = out >= np.uint64(n)
    while outside.any():  # cycle walking: at most a few rounds, the domain is < 4n
        out[outside] = encrypt(out[outside])
        outside = out >= np.uint64(n)
    return out
