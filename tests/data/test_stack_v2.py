"""The Stack-v2 content fetch step against real HTTP servers on loopback."""

import asyncio
import gzip
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmark_module import load_benchmark
from cpt.data.blob_fetch import BlobFetcher, FetchError
from cpt.data.download import ensure_files
from cpt.data.gzip_journal import GzipJournal
from cpt.data.stack_v2 import document_lines, fetch_contents, fetch_file

BLOBS = {"b1": b"print('one')\n", "b2": b"x = 2\n", "b3": "caf\u00e9 = 3\n".encode("latin-1")}
# ids whose first answers are refusals: (status, headers) per attempt, then the blob
FLAKY = {"busy": [(429, {"Retry-After": "1"})], "down": [(503, {}), (502, {})]}


@pytest.fixture(scope="module")
def bench():
    """benchmarks/stack_v2_fetch.py: its blob server, smol-ids writer and the fetcher before issue 24."""
    return load_benchmark("stack_v2_fetch")


@pytest.fixture
def blob_server():
    """Serves gzipped blobs at /content/<blob_id>: 404 for unknown ids, 403 for 'secret', FLAKY's
    refusals first; records (blob_id, time) per request."""
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as S3

        def do_GET(self):
            blob_id = self.path.rsplit("/", 1)[-1]
            requests.append((blob_id, time.monotonic()))
            refusals = FLAKY.get(blob_id, [])
            attempt = sum(r == blob_id for r, _ in requests) - 1
            if attempt < len(refusals) or blob_id in ("secret", "gone"):
                status, headers = refusals[attempt] if attempt < len(refusals) else (
                    (403, {}) if blob_id == "secret" else (404, {}))
                self.send_response(status)
                for name, value in {**headers, "Content-Length": "0"}.items():
                    self.send_header(name, value)
                self.end_headers()
                return
            body = gzip.compress(BLOBS.get(blob_id, blob_id.encode()))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/content", requests
    server.shutdown()


def spec(base_url: str, **overrides) -> dict:
    """A content_fetch section as the schema fills it."""
    return {"ids_glob": "data/*.parquet", "base_url": base_url, "requests_per_second": 1000, "in_flight": 4,
            "window_blobs": 8, "commit_seconds": 30, "retries": 3, "backoff_seconds": 0.05, "timeout_seconds": 10,
            "documents": "repo", **overrides}


def smol_ids_source(tmp_path: Path, base_url: str, documents: str = "repo") -> dict:
    rows = [{"repo_name": "org/a", "files": [
                {"blob_id": "b1", "path": "a.py", "language": "Python", "src_encoding": "UTF-8"},
                {"blob_id": "b3", "path": "c.py", "language": "Python", "src_encoding": "ISO-8859-1"}]},
            {"repo_name": "org/b", "files": [
                {"blob_id": "b2", "path": "b.py", "language": "Python", "src_encoding": "UTF-8"},
                {"blob_id": "gone", "path": "d.py", "language": "Python", "src_encoding": "UTF-8"}]}]
    (tmp_path / "data").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "data" / "train-0.parquet")
    return {"local_dir": str(tmp_path), "glob": "contents/**/*.jsonl.gz", "format": "jsonl",
            "content_fetch": spec(base_url, documents=documents)}


def read_rows(tmp_path: Path) -> list[dict]:
    (path,) = (tmp_path / "contents").rglob("*.jsonl.gz")
    return [json.loads(line) for line in gzip.open(path, "rt")]


def test_rows_gain_contents_and_finished_files_are_skipped(tmp_path, blob_server):
    base_url, requests = blob_server
    source = smol_ids_source(tmp_path, base_url)
    assert ensure_files("stack_v2", source) == ["contents/data/train-0.jsonl.gz"]
    rows = read_rows(tmp_path)
    assert [r["repo_name"] for r in rows] == ["org/a", "org/b"]
    assert [f["content"] for f in rows[0]["files"]] == ["print('one')\n", "caf\u00e9 = 3\n"]  # decoded per src_encoding
    assert [f["path"] for f in rows[1]["files"]] == ["b.py"]  # the 404 blob is left out
    assert sorted(r for r, _ in requests) == ["b1", "b2", "b3", "gone"]
    assert sorted(p.name for p in (tmp_path / "contents" / "data").iterdir()) == ["train-0.jsonl.gz"]  # no journal
    ensure_files("stack_v2", source)
    assert len(requests) == 4  # resumable: nothing fetched twice


def test_one_document_per_file(tmp_path, blob_server):
    source = smol_ids_source(tmp_path, blob_server[0], documents="file")
    fetch_contents("stack_v2", source)
    assert [(r["repo_name"], len(r["files"])) for r in read_rows(tmp_path)] == [("org/a", 1), ("org/a", 1),
                                                                                ("org/b", 1)]


def fetch(base_url: str, blob_ids: list[str], **overrides) -> list:
    async def run():
        async with BlobFetcher(spec(base_url, **overrides), "data.sources.stack_v2.content_fetch") as fetcher:
            return await asyncio.gather(*(fetcher.get(b) for b in blob_ids))

    return asyncio.run(run())


def test_rate_limit_holds(blob_server):
    start = time.monotonic()
    assert fetch(blob_server[0], ["b2"] * 6, requests_per_second=20) == [BLOBS["b2"]] * 6
    assert time.monotonic() - start >= 5 / 20


def test_429_waits_its_retry_after_and_5xx_backs_off(blob_server):
    base_url, requests = blob_server
    assert fetch(base_url, ["busy", "down"]) == [b"busy", b"down"]
    busy = [t for r, t in requests if r == "busy"]
    assert len(busy) == 2 and busy[1] - busy[0] >= 0.95  # Retry-After: 1, though the backoff starts at 0.05 s
    assert [r for r, _ in requests].count("down") == 3


def test_a_refusal_names_the_blob_and_the_fix(blob_server):
    with pytest.raises(FetchError, match=r"blob secret: GET .*/secret answered 403.*agreement.*content_fetch.base_url"):
        fetch(blob_server[0], ["secret"])
    with pytest.raises(FetchError, match=r"blob down: GET .* failed 2 times \(last: 502.*requests_per_second"):
        fetch(blob_server[0], ["down"], retries=1)


def test_same_lines_as_the_fetcher_before_issue_24(tmp_path, bench):
    ids = tmp_path / "ids.parquet"
    bench.write_smol_ids(ids, 300, files_per_repo=7, gone_every=11)
    with bench.BlobServer(latency_s=0.001, size=600) as server:
        for documents in ("file", "repo"):
            bench.run_old(ids, tmp_path / f"old-{documents}.jsonl.gz", server.url, documents)
            fetch_file(ids, tmp_path / f"new-{documents}.jsonl.gz", spec(server.url, documents=documents,
                                                                        window_blobs=20), "k")
            assert bench.lines(tmp_path / f"new-{documents}.jsonl.gz") == bench.lines(
                tmp_path / f"old-{documents}.jsonl.gz")


@pytest.mark.slow
def test_killed_fetch_resumes_refetching_under_5_percent(tmp_path, bench):
    """A real process killed with SIGKILL mid-file, restarted: the output is the uninterrupted one."""
    blobs, rate = 6000, 3000
    ids, out = tmp_path / "ids.parquet", tmp_path / "out.jsonl.gz"
    rows = bench.write_smol_ids(ids, blobs)
    with bench.BlobServer(latency_s=0.02, size=256) as server:
        settings = spec(server.url, documents="file", requests_per_second=rate, in_flight=32, window_blobs=64,
                        commit_seconds=0.05)
        command = [sys.executable, "-c", "import json, sys; from pathlib import Path; "
                   "from cpt.data.stack_v2 import fetch_file; "
                   "fetch_file(Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3]), 'k')",
                   str(ids), str(out), json.dumps(settings)]
        journal = out.with_name(out.name + ".journal.json")
        first = subprocess.Popen(command)
        deadline = time.monotonic() + 60
        while not (journal.exists() and json.loads(journal.read_text())["rows"] >= len(rows) // 3):
            assert first.poll() is None and time.monotonic() < deadline, "the fetch ended before it was killed"
            time.sleep(0.01)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        assert not out.exists()
        killed_at = server.requests()
        subprocess.run(command, check=True)
        refetched = server.requests() - blobs
    assert 0 < killed_at < blobs
    assert refetched < 0.05 * blobs, f"{refetched} of {blobs} blobs fetched twice"
    contents = {f["blob_id"]: None if f["blob_id"].startswith("gone") else bench.blob_text(f["blob_id"], 256)
                for row in rows for f in row["files"]}
    expected = [line for row in rows for line in document_lines(row, contents, "file")]
    assert bench.lines(out) == expected


def test_journal_resumes_after_its_last_commit_and_only_for_the_same_input(tmp_path):
    ids, out = tmp_path / "ids.parquet", tmp_path / "out.jsonl.gz"
    ids.write_bytes(b"v1")
    sink = GzipJournal(out, commit_seconds=3600, input_path=ids)
    sink.write_row(["a\n", "b\n"], blobs=2)
    sink.commit()
    sink.write_row(["lost\n"], blobs=1)  # written, never committed: as if killed here
    sink.file.flush()
    with open(sink.partial, "ab") as torn:
        torn.write(b"\x1f\x8b torn")
    resumed = GzipJournal(out, commit_seconds=3600, input_path=ids)
    assert (resumed.rows_done, resumed.counts) == (1, {"blobs": 2})
    resumed.write_row(["c\n"], blobs=1)
    assert resumed.finish() == {"blobs": 3}
    assert gzip.open(out, "rt").read() == "a\nb\nc\n" and not resumed.journal.exists()
    out.unlink()
    again = GzipJournal(out, commit_seconds=3600, input_path=ids)
    again.write_row(["x\n"])
    again.close()  # after an error: committed at row 1
    assert GzipJournal(out, commit_seconds=3600, input_path=ids).rows_done == 1
    ids.write_bytes(b"v2, re-downloaded")
    assert GzipJournal(out, commit_seconds=3600, input_path=ids).rows_done == 0
