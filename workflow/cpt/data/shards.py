"""Which files each tokenize shard reads: whole files, balanced by bytes from the listing.

datatrove's split (file i to shard i mod S) ignores sizes: with between S and 2S files of
uneven size the largest shard held about twice the mean and overran its walltime. Here each
file, largest first, goes to the shard holding the fewest bytes so far (LPT), so the largest
shard holds at most the mean plus one file. The listing's fingerprint (`<listing>.json`,
written by list_source) already holds every file's size, so no job stats the source again.
Shards keep their files in listing order, and which files a shard reads depends on nothing
but the listing and the shard count: every job of a source computes the same split.
"""

from __future__ import annotations

import heapq
import json
from pathlib import Path


def listing_sizes(paths_file: str | Path) -> list[tuple[str, int]]:
    """(path, bytes) of every file of a listing, from its fingerprint `<paths_file>.json`."""
    fingerprint = Path(f"{paths_file}.json")
    return [(entry["path"], entry["bytes"]) for entry in json.loads(fingerprint.read_text())]


def split(sizes: list[tuple[str, int]], shards: int) -> list[list[str]]:
    """Files per shard: largest first to the lightest shard (ties: the lower index), each shard's
    files in listing order."""
    order = {path: i for i, (path, _) in enumerate(sizes)}
    heap = [(0, shard) for shard in range(shards)]
    chosen: list[list[str]] = [[] for _ in range(shards)]
    for path, size in sorted(sizes, key=lambda item: (-item[1], order[item[0]])):
        held, shard = heapq.heappop(heap)
        chosen[shard].append(path)
        heapq.heappush(heap, (held + size, shard))
    return [sorted(files, key=order.__getitem__) for files in chosen]


def largest_over_mean(sizes: list[tuple[str, int]], shards: int) -> float:
    """The largest shard's bytes over the mean shard's: what the planner's shard estimate is multiplied by."""
    bytes_of = dict(sizes)
    total = sum(bytes_of.values())
    if not total:
        return 1.0
    return max(sum(bytes_of[f] for f in files) for files in split(sizes, shards)) * shards / total


def shard_files(paths_file: str | Path, shard: int, shards: int) -> list[str]:
    """The files of shard `shard` of `shards` (paths relative to the source's local_dir)."""
    return split(listing_sizes(paths_file), shards)[shard]
