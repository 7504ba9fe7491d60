"""The Stack-v2 content fetch step against a real HTTP server on loopback."""

import gzip
import http.server
import json
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cpt.data.download import ensure_files
from cpt.data.stack_v2 import RateLimiter, fetch_contents, http_blob_getter

BLOBS = {"b1": b"print('one')\n", "b2": b"x = 2\n", "b3": "caf\u00e9 = 3\n".encode("latin-1")}


@pytest.fixture
def blob_server():
    """Serves gzipped blobs at /content/<blob_id>; 404 for unknown ids; counts requests."""
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            blob_id = self.path.rsplit("/", 1)[-1]
            requests.append(blob_id)
            if blob_id not in BLOBS:
                self.send_error(404)
                return
            body = gzip.compress(BLOBS[blob_id])
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
            "content_fetch": {"ids_glob": "data/*.parquet", "base_url": base_url, "requests_per_second": 1000,
                              "workers": 2, "documents": documents}}


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
    assert sorted(requests) == ["b1", "b2", "b3", "gone"]
    ensure_files("stack_v2", source)
    assert len(requests) == 4  # resumable: nothing fetched twice


def test_one_document_per_file(tmp_path, blob_server):
    source = smol_ids_source(tmp_path, blob_server[0], documents="file")
    fetch_contents("stack_v2", source)
    assert [(r["repo_name"], len(r["files"])) for r in read_rows(tmp_path)] == [("org/a", 1), ("org/a", 1),
                                                                                ("org/b", 1)]


def test_rate_limit_holds(blob_server):
    get = http_blob_getter(blob_server[0], RateLimiter(per_second=20))
    start = time.monotonic()
    for _ in range(6):
        assert get("b2") == BLOBS["b2"]
    assert time.monotonic() - start >= 5 / 20
