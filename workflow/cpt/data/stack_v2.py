"""Fetch Stack-v2 file contents into smol-ids rows (login or data-transfer node).

bigcode/the-stack-v2-train-smol-ids holds no code: one row per repository with a
`files` list (blob_id, path, language, src_encoding, ...). The contents live in
Software Heritage's bucket, s3://softwareheritage/content/{blob_id}, gzipped;
bulk use needs an agreement with Software Heritage (point `base_url` at the
endpoint or mirror it grants). This step writes, per smol-ids parquet file, a
jsonl.gz of the same rows with `content` added to every file entry -- one row
per repository, or one per file (`documents: file`). Resumable at file
granularity (a finished output is skipped), rate-limited, retried on transient
errors; blobs that are gone (404) are left out and counted.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import pyarrow.parquet as pq

from cpt.atomic import atomic_path
from cpt.progress import RateLogger

log = logging.getLogger("cpt")
RETRIES = 4


class RateLimiter:
    """At most `per_second` acquisitions per second, shared by all fetch threads."""

    def __init__(self, per_second: float):
        self.interval, self.next, self.lock = 1.0 / per_second, time.monotonic(), threading.Lock()

    def acquire(self) -> None:
        with self.lock:
            now = time.monotonic()
            wait, self.next = self.next - now, max(self.next, now) + self.interval
        if wait > 0:
            time.sleep(wait)


def http_blob_getter(base_url: str, limiter: RateLimiter) -> Callable[[str], bytes | None]:
    """GET {base_url}/{blob_id} (gzip), with retries and backoff; None when the blob is gone."""

    def get(blob_id: str) -> bytes | None:
        for attempt in range(RETRIES):
            limiter.acquire()
            try:
                with urllib.request.urlopen(f"{base_url}/{blob_id}", timeout=60) as response:
                    return gzip.decompress(response.read())
            except urllib.error.HTTPError as err:
                if err.code == 404:
                    return None
                if err.code < 500 and err.code != 429 or attempt == RETRIES - 1:
                    raise
            except (urllib.error.URLError, TimeoutError, ConnectionError):
                if attempt == RETRIES - 1:
                    raise
            time.sleep(2 ** attempt)
        raise AssertionError("unreachable")

    return get


def _with_contents(row: dict, contents: dict[str, bytes | None]) -> list[dict]:
    files = []
    for entry in row["files"]:
        raw = contents[entry["blob_id"]]
        if raw is not None:
            files.append({**entry, "content": raw.decode(entry.get("src_encoding") or "utf-8", errors="replace")})
    return files


def fetch_file(ids_path: Path, out: Path, get_blob: Callable[[str], bytes | None], workers: int,
               documents: str) -> dict:
    """One smol-ids parquet file -> one jsonl.gz of rows with contents; returns counts."""
    rows = pq.read_table(ids_path).to_pylist()
    blob_ids = sorted({f["blob_id"] for row in rows for f in row["files"]})
    progress = RateLogger(f"fetch {ids_path.name}", len(blob_ids), "blobs")
    contents: dict[str, bytes | None] = {}
    with ThreadPoolExecutor(workers) as pool:
        for blob_id, blob in zip(blob_ids, pool.map(get_blob, blob_ids)):
            contents[blob_id] = blob
            progress.update(1)
    missing = sum(v is None for v in contents.values())
    with atomic_path(out) as tmp, gzip.open(tmp, "wt", encoding="utf-8") as sink:
        for row in rows:
            files = _with_contents(row, contents)
            groups = [files] if documents == "repo" else [[f] for f in files]
            for group in groups:
                if group:
                    sink.write(json.dumps({**row, "files": group, "num_files": len(group)}, default=str) + "\n")
    progress.finish()
    return {"blobs": len(blob_ids), "missing": missing}


def contents_path(root: Path, ids_path: Path) -> Path:
    """Where the fetched contents of one smol-ids file go (its presence means: done)."""
    return root / "contents" / ids_path.relative_to(root).with_suffix(".jsonl.gz")


def unfetched(source: dict) -> list[Path]:
    """The smol-ids files whose contents are not fetched yet."""
    root = Path(source["local_dir"])
    ids_files = sorted(root.glob(source["content_fetch"]["ids_glob"]))
    return [p for p in ids_files if not contents_path(root, p).exists()]


def fetch_contents(name: str, source: dict, get_blob: Callable[[str], bytes | None] | None = None) -> None:
    """Every smol-ids file of the source without a finished output gets fetched."""
    spec = source["content_fetch"]
    root = Path(source["local_dir"])
    if get_blob is None:
        get_blob = http_blob_getter(spec["base_url"], RateLimiter(spec["requests_per_second"]))
    ids_files = sorted(root.glob(spec["ids_glob"]))
    if not ids_files:
        if any(root.glob(source["glob"])):
            log.info("source %s: no smol-ids file under %s matches %s; using the contents already there "
                     "(as the demo ships them)", name, root, spec["ids_glob"])
            return
        raise FileNotFoundError(f"source {name}: no smol-ids file matches data.sources.{name}.content_fetch.ids_glob="
                                f"{spec['ids_glob']!r} under {root}; download them first (data.sources.{name}.hub)")
    for ids_path in unfetched(source):  # resumable: finished outputs are complete (written atomically)
        out = contents_path(root, ids_path)
        counts = fetch_file(ids_path, out, get_blob, spec["workers"], spec["documents"])
        log.info("source %s: %s -> %s (%d blobs, %d missing)", name, ids_path, out, counts["blobs"],
                 counts["missing"])
