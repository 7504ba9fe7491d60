"""Fetch Stack-v2 file contents into smol-ids rows (login or data-transfer node).

bigcode/the-stack-v2-train-smol-ids holds no code: one row per repository with a
`files` list (blob_id, path, language, src_encoding, ...). The contents live in
Software Heritage's bucket, s3://softwareheritage/content/{blob_id}, gzipped;
bulk use needs an agreement with Software Heritage (point `base_url` at the
endpoint or mirror it grants). This step writes, per smol-ids parquet file, a
jsonl.gz of the same rows with `content` added to every file entry -- one row
per repository, or one per file (`documents: file`). Rows stream through a
bounded window of blobs in flight (cpt.data.blob_fetch) and are written in order
as they complete, committed every `commit_seconds` (cpt.data.gzip_journal): a
killed fetch resumes from its last commit, a finished output is skipped. Blobs
that are gone (404) are left out and counted.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from pathlib import Path
from typing import Iterator

import pyarrow.parquet as pq

from cpt.data.blob_fetch import BlobFetcher
from cpt.data.gzip_journal import GzipJournal
from cpt.data.listing import contents_path, unfetched
from cpt.progress import RateLogger

log = logging.getLogger("cpt")
ROW_BATCH = 1024  # smol-ids rows decoded at a time: memory stays flat whatever the file's size


def document_lines(row: dict, contents: dict[str, bytes | None], documents: str) -> list[str]:
    """One row's output lines: its files that have contents, as one document (`repo`) or one each (`file`)."""
    files = []
    for entry in row["files"]:
        raw = contents[entry["blob_id"]]
        if raw is not None:
            files.append({**entry, "content": raw.decode(entry.get("src_encoding") or "utf-8", errors="replace")})
    groups = [files] if documents == "repo" else [[f] for f in files]
    return [json.dumps({**row, "files": group, "num_files": len(group)}, default=str) + "\n"
            for group in groups if group]


def smol_rows(ids_path: Path, skip: int) -> Iterator[dict]:
    """The file's rows after the first `skip`, decoded a batch at a time (skipped batches are not decoded)."""
    for batch in pq.ParquetFile(ids_path).iter_batches(batch_size=ROW_BATCH):
        if skip >= batch.num_rows:
            skip -= batch.num_rows
            continue
        yield from batch.slice(skip).to_pylist()
        skip = 0


async def _fetch_rows(rows: Iterator[dict], fetcher: BlobFetcher, window_blobs: int, documents: str,
                      sink: GzipJournal, progress: RateLogger) -> None:
    """Rows in order, each written once its blobs are in; up to `window_blobs` blobs are fetched ahead."""
    window: collections.deque = collections.deque()
    ahead = 0

    async def write_oldest() -> None:
        nonlocal ahead
        row, tasks = window.popleft()
        contents = {blob_id: await task for blob_id, task in tasks.items()}
        missing = sum(blob is None for blob in contents.values())
        sink.write_row(document_lines(row, contents, documents), blobs=len(contents), missing=missing)
        ahead -= len(tasks)
        progress.update(1, blobs=len(contents))

    try:
        for row in rows:
            blob_ids = list(dict.fromkeys(entry["blob_id"] for entry in row["files"]))
            while window and ahead + len(blob_ids) > window_blobs:
                await write_oldest()
            window.append((row, {blob_id: asyncio.create_task(fetcher.get(blob_id)) for blob_id in blob_ids}))
            ahead += len(blob_ids)
        while window:
            await write_oldest()
    finally:
        for _, tasks in window:
            for task in tasks.values():
                task.cancel()
        await asyncio.gather(*(t for _, tasks in window for t in tasks.values()), return_exceptions=True)


def fetch_file(ids_path: Path, out: Path, spec: dict, key: str) -> dict:
    """One smol-ids parquet file -> one jsonl.gz of documents with contents, written as it goes and
    resumed from its journal after a kill; returns the counts (blobs, missing) and this run's requests
    and gzipped bytes received."""
    sink = GzipJournal(out, spec["commit_seconds"], ids_path)
    if sink.resumed:
        log.info("%s: resuming after row %d (%s)", out, sink.rows_done, sink.journal)
    progress = RateLogger(f"fetch {ids_path.name}", pq.ParquetFile(ids_path).metadata.num_rows, "rows")
    progress.done = sink.rows_done

    async def run() -> BlobFetcher:
        async with BlobFetcher(spec, key) as fetcher:
            await _fetch_rows(smol_rows(ids_path, sink.rows_done), fetcher, spec["window_blobs"], spec["documents"],
                              sink, progress)
            return fetcher

    try:
        fetcher = asyncio.run(run())
    except BaseException:
        sink.close()  # rows written so far are committed: the rerun starts after them
        raise
    counts = sink.finish()
    progress.finish()
    return {"blobs": counts.get("blobs", 0), "missing": counts.get("missing", 0), "requests": fetcher.requests,
            "bytes": fetcher.bytes}


def fetch_contents(name: str, source: dict) -> None:
    """Every smol-ids file of the source without a finished output gets fetched."""
    spec = source["content_fetch"]
    root = Path(source["local_dir"])
    ids_files = sorted(root.glob(spec["ids_glob"]))
    if not ids_files:
        if any(root.glob(source["glob"])):
            log.info("source %s: no smol-ids file under %s matches %s; using the contents already there "
                     "(as the demo ships them)", name, root, spec["ids_glob"])
            return
        raise FileNotFoundError(f"source {name}: no smol-ids file matches data.sources.{name}.content_fetch.ids_glob="
                                f"{spec['ids_glob']!r} under {root}; download them first (data.sources.{name}.hub)")
    for ids_path in unfetched(source):  # finished outputs are complete; a started one resumes from its journal
        out = contents_path(root, ids_path)
        counts = fetch_file(ids_path, out, spec, f"data.sources.{name}.content_fetch")
        log.info("source %s: %s -> %s (%d blobs, %d missing)", name, ids_path, out, counts["blobs"],
                 counts["missing"])
