"""A hub on loopback that keeps revisions as commits: just the endpoints a publish job calls (create a
repo and a branch, repo info, tree, file, preupload, commit with parentCommit), so main's history is
real HTTP state that a test can read and race."""

import base64
import hashlib
import http.server
import json
import threading
from urllib.parse import unquote, urlparse


class MiniHub(http.server.BaseHTTPRequestHandler):
    commits: dict[str, dict[str, bytes]]   # commit id -> files
    heads: dict[str, str]                  # revision -> commit id
    before_main_commit = None              # called once, before the next commit to main is applied

    def log_message(self, *args):
        pass

    def reply(self, status: int, body, headers: dict | None = None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", "Content-Length": str(len(data)),
                           **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    @classmethod
    def apply(cls, revision: str, add: dict[str, bytes], delete=(), parent: str | None = None) -> str | None:
        """A commit on `revision` (None: refused, its head is not `parent`)."""
        head = cls.heads[revision]
        if parent is not None and parent != head:
            return None
        files = {k: v for k, v in cls.commits[head].items() if k not in delete} | add
        commit = hashlib.sha1(f"{head}{sorted(files.items())}".encode()).hexdigest()
        cls.commits[commit], cls.heads[revision] = files, commit
        return commit

    def do_GET(self):
        parts = [unquote(p) for p in urlparse(self.path).path.strip("/").split("/")]
        if parts[:2] == ["api", "models"] and parts[4] == "revision":
            return self.reply(200, {"id": "/".join(parts[2:4]), "sha": self.heads[parts[5]], "siblings": []})
        if parts[:2] == ["api", "models"] and parts[4] == "tree":
            commit = self.heads.get(parts[5], parts[5] if parts[5] in self.commits else None)
            if commit is None:
                return self.reply(404, {"error": "no revision"}, {"X-Error-Code": "RevisionNotFound"})
            return self.reply(200, [{"type": "file", "path": p, "size": len(d),
                                     "oid": hashlib.sha1(b"blob %d\0" % len(d) + d).hexdigest()}
                                    for p, d in sorted(self.commits[commit].items())])
        if parts[2] == "resolve":
            files = self.commits[self.heads.get(parts[3], parts[3])]
            name = "/".join(parts[4:])
            if name not in files:
                return self.reply(404, {"error": "no entry"}, {"X-Error-Code": "EntryNotFound"})
            return self.reply(200, files[name])
        self.reply(404, {"error": self.path})

    def do_POST(self):
        parts = [unquote(p) for p in urlparse(self.path).path.strip("/").split("/")]
        body = self.body()
        if parts == ["api", "repos", "create"]:
            return self.reply(200, {"url": f"http://{self.headers['Host']}/me/cpt-demo"})
        if parts[4] == "branch":
            if parts[5] in self.heads:
                return self.reply(409, {"error": "exists"})
            self.heads[parts[5]] = self.heads["main"]
            return self.reply(200, {})
        if parts[4] == "preupload":
            files = json.loads(body)["files"]
            return self.reply(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                              for f in files]})
        if parts[4] == "commit":
            revision = parts[5]
            if revision == "main" and type(self).before_main_commit:
                hook, type(self).before_main_commit = type(self).before_main_commit, None
                hook()
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            header = next(item["value"] for item in lines if item["key"] == "header")
            add = {i["value"]["path"]: base64.b64decode(i["value"]["content"]) for i in lines if i["key"] == "file"}
            delete = {i["value"]["path"] for i in lines if i["key"] == "deletedFile"}
            commit = self.apply(revision, add, delete, header.get("parentCommit"))
            if commit is None:
                return self.reply(412, {"error": "A commit has happened since. Please refresh and try again."})
            return self.reply(200, {"commitOid": commit,
                                    "commitUrl": f"http://{self.headers['Host']}/me/cpt-demo/commit/{commit}",
                                    "pullRequestUrl": None})
        self.reply(404, {"error": self.path})


def start_hub():
    """(handler class, endpoint, server): a repository whose main holds .gitattributes only."""
    handler = type("Hub", (MiniHub,), {"commits": {"0" * 40: {".gitattributes": b"*.safetensors filter=lfs\n"}},
                                       "heads": {"main": "0" * 40}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return handler, f"http://127.0.0.1:{server.server_port}", server
