"""Bad input for publishing, against real HTTP: a hub that rate-limits or refuses, a network
that is down, no token. Each ends in one message naming the setting and the fix, with the
token nowhere in it, and no receipt (so the next snakemake run retries).

No hub-compatible server with uploads runs here (no internet; no open-source
implementation of the hub's commit and LFS APIs is packaged on PyPI): the uploads
themselves are exercised only where one is reachable (README: Publishing).
"""

import http.server
import json
import socket
import threading

import pytest

from cpt.publish.__main__ import main
from cpt.publish.hub import PublishError, publish, with_retries
from cpt.rundir.config import write_config

TOKEN = "hf_thisTokenMustNeverBeLogged"


class Hub(http.server.BaseHTTPRequestHandler):
    """A server that answers every request with one status, counting requests."""
    status = 429
    requests = 0

    def _answer(self):
        type(self).requests += 1
        body = json.dumps({"error": "no"}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def hub_answering(monkeypatch):
    servers = []

    def start(status):
        handler = type("H", (Hub,), {"status": status, "requests": 0})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return handler, f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    yield start
    for server in servers:
        server.shutdown()


def settings(endpoint, **extra):
    return {"repo_id": "me/cpt-demo", "endpoint": endpoint, "retries": 2, "backoff_seconds": 0.01, **extra}


def closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_rate_limit_is_retried_with_backoff_then_explained(hub_answering, tmp_path):
    handler, url = hub_answering(429)
    delays = []
    with pytest.raises(PublishError) as err:
        from huggingface_hub import HfApi
        api = HfApi(endpoint=url)
        with_retries("creating me/cpt-demo", lambda: api.create_repo("me/cpt-demo", exist_ok=True), settings(url),
                     sleep=delays.append)
    assert delays == [0.01, 0.02]  # exponential backoff between the 3 tries
    assert handler.requests >= 3
    assert "rate-limited" in str(err.value) and "publish.hf.backoff_seconds" in str(err.value)


def test_a_repository_the_token_cannot_write_is_not_retried(hub_answering, tmp_path):
    handler, url = hub_answering(403)
    with pytest.raises(PublishError, match=r"cannot write to me/cpt-demo \(403\).*publish.hf.repo_id"):
        publish(tmp_path, 3500, settings(url), {})
    assert handler.requests < 3  # one try (create_repo may ask once more whether the repo exists), no retries


def test_network_down_fails_the_job_with_the_endpoint_named_and_no_receipt(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    url = closed_port_url()
    receipt = tmp_path / "receipt.json"
    config = {"run": "r", "model": {"base_dir": "b"}, "publish": {"hf": settings(url)},
              "data": {"sources": {"a": {"weight": 1.0}}, "mix": {"weighting": "rows"}, "seq_len": 8},
              "train": {"local_batch": 8, "parallel": {"dp_replicate": 1, "dp_shard": 1}}}
    write_config(tmp_path / "config.json", config)   # what the controller writes when it starts jobs
    (tmp_path / "export").mkdir()
    code = main(["--export", str(tmp_path / "export"), "--step", "150", "--config-file", str(tmp_path / "config.json"),
                 "--eval-results", str(tmp_path / "none"), "--receipt", str(receipt)])
    assert code == 1 and not receipt.exists()
    assert "retry 2/2" in caplog.text  # a network error is transient: retried before giving up
    assert "cannot reach the hub" in caplog.text and "publish.hf.endpoint" in caplog.text
    assert "the next snakemake run retries" in caplog.text
    assert TOKEN not in caplog.text


def test_missing_token_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # no stored token either
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "token"))
    with pytest.raises(PublishError, match=r"no Hugging Face token.*hf auth login.*HF_TOKEN.*me/cpt-demo"):
        publish(tmp_path, 3500, settings(closed_port_url()), {})
