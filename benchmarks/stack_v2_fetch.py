"""Stack-v2 content fetch: requests/s and MB/s of today's fetcher and the new one, side by side.

    python benchmarks/stack_v2_fetch.py [--blobs 20000] [--old-blobs 2000] [--latency-ms 150] [--in-flight 512]

A loopback HTTP server (aiohttp, asyncio: thousands of requests wait out their latency at
once, so the server is not the bottleneck) answers GET /content/<blob_id> with a gzipped
blob after `--latency-ms` (Software Heritage's bucket: ~150-200 ms per GET whatever the
size), 404 for ids starting with "gone". It runs in its own process, as the bucket would.
Both fetchers read the same smol-ids parquet file with the rate limit lifted (the mechanism
is measured, not the configured rate):
- old: the fetcher before issue 24 (a copy below: 16 threads, one new connection per
  request, every blob in memory, written at the end);
- new: cpt.data.stack_v2.fetch_file (aiohttp, `--in-flight` requests on reused connections,
  rows streamed and written as they complete).
Prints each one's requests/s and MB/s (gzipped bytes received), the ratio new / old
(goal >= 20, and >= 1,000 requests/s from one process), requests per CPU-second of the
fetching process (what one core sustains, whatever else loads the machine), and checks that
both fetchers write the same lines for the same smol-ids file. On the real bucket the rate is what
Software Heritage grants and the DTN
sustains: measure it there (the download_source job's log prints blobs/s every 10 s).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

VARIANTS = 64  # distinct blob bodies; a blob's body is fixed by its id


def variant_text(variant: int, size: int) -> bytes:
    """`size` bytes of Python-like text, one of VARIANTS, that gzip shrinks about 3x as it does source code."""
    rng = random.Random(variant)
    words = ["def", "return", "self", "if", "else", "for", "in", "import", "x", "y", "value", "items", "=", "(", ")",
             ":", "+", "1", "0", "None", "\n    ", "\n"]
    text = " ".join(rng.choice(words) + (str(rng.randrange(10 ** 6)) if rng.random() < .3 else "")
                    for _ in range(size // 3))
    return text.encode()[:size]


def blob_text(blob_id: str, size: int) -> bytes:
    """The body of `blob_id` (its variant is fixed by the id)."""
    return variant_text(zlib.crc32(blob_id.encode()) % VARIANTS, size)


def serve(port_file: Path, latency_s: float, size: int) -> None:
    """Run the blob server until killed; writes its port to `port_file`; GET /stats -> requests so far."""
    from aiohttp import web

    bodies = [gzip.compress(variant_text(v, size)) for v in range(VARIANTS)]
    state = {"requests": 0}

    async def content(request: web.Request) -> web.Response:
        blob_id = request.match_info["blob_id"]
        state["requests"] += 1
        await asyncio.sleep(latency_s)
        if blob_id.startswith("gone"):
            return web.Response(status=404)
        return web.Response(body=bodies[zlib.crc32(blob_id.encode()) % VARIANTS])

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(state)

    app = web.Application()
    app.router.add_get("/content/{blob_id}", content)
    app.router.add_get("/stats", stats)

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(str(port))
        os.replace(tmp, port_file)
        await asyncio.Event().wait()

    asyncio.run(main())


class BlobServer:
    """The server above in a subprocess: `with BlobServer(latency_s) as server: server.url, server.requests()`."""

    def __init__(self, latency_s: float = 0.15, size: int = 4096):
        self.latency_s, self.size = latency_s, size

    def __enter__(self) -> "BlobServer":
        self.dir = tempfile.TemporaryDirectory()
        port_file = Path(self.dir.name) / "port"
        self.process = subprocess.Popen([sys.executable, __file__, "--serve", str(port_file),
                                         "--latency-ms", str(self.latency_s * 1000), "--size", str(self.size)])
        deadline = time.monotonic() + 30
        while not port_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the blob server did not start")
            time.sleep(0.02)
        self.root = f"http://127.0.0.1:{port_file.read_text()}"
        self.url = f"{self.root}/content"
        return self

    def requests(self) -> int:
        with urllib.request.urlopen(f"{self.root}/stats") as response:
            return json.load(response)["requests"]

    def __exit__(self, *exc) -> None:
        self.process.kill()
        self.process.wait()
        self.dir.cleanup()


def write_smol_ids(path: Path, blobs: int, files_per_repo: int = 4, gone_every: int = 50) -> list[dict]:
    """A smol-ids parquet file of `blobs` files in repositories of `files_per_repo`; every
    `gone_every`-th blob is one the server answers 404. Returns the rows."""
    rows = []
    for repo in range(0, blobs, files_per_repo):
        files = [{"blob_id": (f"gone{i:07d}" if i % gone_every == gone_every - 1 else f"{i:040x}"),
                  "path": f"src/m{i}.py", "language": "Python", "src_encoding": "UTF-8"}
                 for i in range(repo, min(repo + files_per_repo, blobs))]
        rows.append({"repo_name": f"org/r{repo}", "files": files})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return rows


def fetch_spec(base_url: str, **overrides) -> dict:
    """A content_fetch section with the schema's defaults, the rate limit lifted."""
    spec = {"ids_glob": "data/*.parquet", "base_url": base_url, "requests_per_second": 1e6, "in_flight": 64,
            "window_blobs": 4096, "commit_seconds": 30, "retries": 6, "backoff_seconds": 1,
            "timeout_seconds": 60, "documents": "file"}
    return {**spec, **overrides}


# --- the baseline: cpt/data/stack_v2.py before issue 24 (kept verbatim) -----------------

class OldRateLimiter:
    def __init__(self, per_second: float):
        self.interval, self.next, self.lock = 1.0 / per_second, time.monotonic(), threading.Lock()

    def acquire(self) -> None:
        with self.lock:
            now = time.monotonic()
            wait, self.next = self.next - now, max(self.next, now) + self.interval
        if wait > 0:
            time.sleep(wait)


def old_http_blob_getter(base_url: str, limiter: OldRateLimiter, received: list):
    def get(blob_id: str) -> bytes | None:
        for attempt in range(4):
            limiter.acquire()
            try:
                with urllib.request.urlopen(f"{base_url}/{blob_id}", timeout=60) as response:
                    body = response.read()
                    received.append(len(body))  # added: the benchmark's byte count
                    return gzip.decompress(body)
            except urllib.error.HTTPError as err:
                if err.code == 404:
                    return None
                if err.code < 500 and err.code != 429 or attempt == 3:
                    raise
            except (urllib.error.URLError, TimeoutError, ConnectionError):
                if attempt == 3:
                    raise
            time.sleep(2 ** attempt)
        raise AssertionError("unreachable")

    return get


def _old_with_contents(row: dict, contents: dict) -> list[dict]:
    files = []
    for entry in row["files"]:
        raw = contents[entry["blob_id"]]
        if raw is not None:
            files.append({**entry, "content": raw.decode(entry.get("src_encoding") or "utf-8", errors="replace")})
    return files


def old_fetch_file(ids_path: Path, out: Path, get_blob, workers: int, documents: str) -> dict:
    rows = pq.read_table(ids_path).to_pylist()
    blob_ids = sorted({f["blob_id"] for row in rows for f in row["files"]})
    contents: dict = {}
    with ThreadPoolExecutor(workers) as pool:
        for blob_id, blob in zip(blob_ids, pool.map(get_blob, blob_ids)):
            contents[blob_id] = blob
    missing = sum(v is None for v in contents.values())
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(out, "wt", encoding="utf-8") as sink:
        for row in rows:
            files = _old_with_contents(row, contents)
            groups = [files] if documents == "repo" else [[f] for f in files]
            for group in groups:
                if group:
                    sink.write(json.dumps({**row, "files": group, "num_files": len(group)}, default=str) + "\n")
    return {"blobs": len(blob_ids), "missing": missing}


# --- the two arms ------------------------------------------------------------------------

def run_old(ids: Path, out: Path, base_url: str, documents: str, workers: int = 16) -> dict:
    received: list[int] = []
    start, cpu = time.perf_counter(), time.process_time()
    counts = old_fetch_file(ids, out, old_http_blob_getter(base_url, OldRateLimiter(1e6), received), workers,
                            documents)
    return {**counts, "seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
            "bytes": sum(received), "requests": counts["blobs"]}


def run_new(ids: Path, out: Path, spec: dict) -> dict:
    from cpt.data.stack_v2 import fetch_file

    start, cpu = time.perf_counter(), time.process_time()
    counts = fetch_file(ids, out, spec, "benchmark.content_fetch")
    return {**counts, "seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu}


def lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return f.readlines()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blobs", type=int, default=20000, help="the new fetcher's file (its rate)")
    parser.add_argument("--old-blobs", type=int, default=2000,
                        help="the old fetcher's file (~100 requests/s: 2,000 take 20 s); both fetch it, "
                             "outputs compared")
    parser.add_argument("--latency-ms", type=float, default=150.0)
    parser.add_argument("--size", type=int, default=4096, help="bytes per blob before gzip")
    parser.add_argument("--in-flight", type=int, default=512)
    parser.add_argument("--documents", choices=["file", "repo"], default="file")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # the server subprocess
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.latency_ms / 1000, args.size)
        return
    with tempfile.TemporaryDirectory() as tmp, BlobServer(args.latency_ms / 1000, args.size) as server:
        tmp = Path(tmp)
        spec = fetch_spec(server.url, in_flight=args.in_flight, documents=args.documents)
        write_smol_ids(tmp / "small.parquet", args.old_blobs)
        write_smol_ids(tmp / "large.parquet", args.blobs)
        old = run_old(tmp / "small.parquet", tmp / "old.jsonl.gz", server.url, args.documents)
        run_new(tmp / "small.parquet", tmp / "new-small.jsonl.gz", spec)
        same = lines(tmp / "old.jsonl.gz") == lines(tmp / "new-small.jsonl.gz")
        new = run_new(tmp / "large.parquet", tmp / "new.jsonl.gz", spec)
    print(f"blobs of {args.size:,} B, {args.latency_ms:g} ms per GET, documents={args.documents}, "
          f"{os.cpu_count()} cores shared with the server process")
    rates = []
    for name, arm in ((f"old ({args.old_blobs:,} blobs; 16 threads, a connection per GET)", old),
                      (f"new ({args.blobs:,} blobs; aiohttp, {args.in_flight} in flight)", new)):
        rates.append(arm["requests"] / arm["seconds"])
        print(f"  {name:58s} {arm['seconds']:6.2f} s {rates[-1]:7,.0f} requests/s "
              f"{arm['bytes'] / arm['seconds'] / 1e6:6.2f} MB/s  {arm['requests'] / arm['cpu']:7,.0f} requests "
              f"per CPU-second of the fetching process")
    old_rate, new_rate = rates
    print(f"  ratio new / old: {new_rate / old_rate:.1f}x (goal >= 20x and >= 1,000 requests/s)")
    print(f"  outputs hold the same lines: {same}")
    if not same:
        sys.exit("the new fetcher's output differs from the old one's")


if __name__ == "__main__":
    main()
