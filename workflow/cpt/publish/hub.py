"""Uploads to the Hugging Face hub: one step's export as a commit per revision, with
retries and errors that name the setting and the fix.

The token comes from huggingface_hub's own lookup (HF_TOKEN, then the file `hf auth
login` writes); it is never printed. Uploads go through `create_commit`, which asks
the hub which LFS objects it already has before sending any: a job rerun after a
failure sends only what did not arrive.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import logging
import time
from pathlib import Path
from typing import Callable, TypeVar

from cpt.atomic import sha256_file
from cpt.publish.plan import STATE_FILE, FileEntry, PublishPlan, RevisionPlan, branch, git_blob_sha1, plan_step

log = logging.getLogger("cpt")
T = TypeVar("T")
TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


class PublishError(RuntimeError):
    """An upload that cannot succeed as configured; the message says which setting to fix."""


def local_files(export_dir: Path, extra: dict[str, bytes]) -> tuple[dict[str, FileEntry], dict[str, Path | bytes]]:
    """Entries (by content) and sources of the export's files plus generated ones (card, state)."""
    entries, sources = {}, {}
    for path in sorted(p for p in export_dir.rglob("*") if p.is_file()):
        name = path.relative_to(export_dir).as_posix()
        small = path.stat().st_size < (1 << 20)
        entries[name] = FileEntry(name, path.stat().st_size, sha256_file(path),
                                  git_blob_sha1(path.read_bytes()) if small else None)
        sources[name] = path
    for name, data in extra.items():
        entries[name] = FileEntry(name, len(data), hashlib.sha256(data).hexdigest(), git_blob_sha1(data))
        sources[name] = data
    return entries, sources


def explain(err: Exception, hub: dict) -> str:
    """What went wrong in words a user can act on (the token itself never appears)."""
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
    repo = hub["repo_id"]
    status = getattr(getattr(err, "response", None), "status_code", None)
    if isinstance(err, RepositoryNotFoundError) or status == 404:
        return (f"the hub has no repository {repo} that this token can see (publish.hf.repo_id); create it, "
                "fix the name, or use a token of an account that owns it")
    if status == 401:
        return ("the hub refused the token (401): it is invalid or expired; set a new one with `hf auth login` "
                "or HF_TOKEN on the login node")
    if status == 403:
        return (f"the token cannot write to {repo} (403); give it write access to that repository or "
                "organization, or change publish.hf.repo_id")
    if status == 429:
        return ("the hub rate-limited the uploads (429) after every retry; the next snakemake run retries "
                "(raise publish.hf.backoff_seconds to wait longer between tries)")
    if isinstance(err, HfHubHTTPError):
        return f"the hub answered HTTP {status}: {str(err).splitlines()[0]}"
    return (f"cannot reach the hub ({type(err).__name__}: {err}); check the login node's network or proxy, "
            f"and publish.hf.endpoint ({hub.get('endpoint') or 'default https://huggingface.co'})")


def transport_errors() -> tuple[type, ...]:
    """Network-level failures of the HTTP client huggingface_hub uses (httpx, or its fork httpx2)."""
    kinds = [ConnectionError, TimeoutError]
    for module in ("httpx2", "httpx"):
        with contextlib.suppress(ImportError):
            kinds.append(importlib.import_module(module).TransportError)
    return tuple(kinds)


def transient(err: Exception) -> bool:
    from huggingface_hub.errors import HfHubHTTPError
    if isinstance(err, HfHubHTTPError):
        return getattr(err.response, "status_code", None) in TRANSIENT_STATUS
    return isinstance(err, transport_errors())


def with_retries(what: str, call: Callable[[], T], hub: dict, sleep: Callable[[float], None] = time.sleep) -> T:
    """`call()`, retried on transient errors (network, 429, 5xx) with exponential backoff."""
    attempts = hub.get("retries", 5) + 1
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as err:  # noqa: BLE001 - classified below
            if not transient(err) or attempt == attempts:
                raise PublishError(f"publish.hf: {what} failed: {explain(err, hub)}") from err
            delay = hub.get("backoff_seconds", 30.0) * 2 ** (attempt - 1)
            log.warning("%s: %s; retry %d/%d in %.0f s", what, explain(err, hub), attempt, attempts - 1, delay)
            sleep(delay)
    raise AssertionError("unreachable")


def require_token(hub: dict) -> None:
    from huggingface_hub import get_token
    if get_token() is None:
        raise PublishError(f"publish.hf: no Hugging Face token on this node. Run `hf auth login` on the login node "
                           f"(or export HF_TOKEN) with a token that can write to {hub['repo_id']}; "
                           "compute nodes never need it")


def remote_tree(api, repo_id: str, revision: str) -> dict[str, FileEntry] | None:
    """The files of one revision by content; None when the revision does not exist."""
    from huggingface_hub.errors import RevisionNotFoundError
    try:
        items = list(api.list_repo_tree(repo_id, recursive=True, expand=True, revision=revision))
    except RevisionNotFoundError:
        return None
    return {i.path: FileEntry(i.path, i.size, i.lfs.sha256 if i.lfs else None, i.blob_id)
            for i in items if hasattr(i, "size") and i.size is not None}


def main_step(api, repo_id: str, hub: dict) -> int | None:
    """The step main holds, from its state file (None: nothing published yet)."""
    from huggingface_hub.errors import EntryNotFoundError, RemoteEntryNotFoundError
    try:
        path = api.hf_hub_download(repo_id, STATE_FILE, revision="main")
    except (EntryNotFoundError, RemoteEntryNotFoundError):
        return None
    return json.loads(Path(path).read_text())["step"]


def commit(api, repo_id: str, revision: RevisionPlan, sources: dict, step: int, hub: dict) -> str | None:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete
    if revision.empty:
        log.info("%s: nothing to upload (%d files already there)", revision.revision, len(revision.skip))
        return None
    operations = ([CommitOperationAdd(path_in_repo=p, path_or_fileobj=sources[p]) for p in revision.upload]
                  + [CommitOperationDelete(path_in_repo=p) for p in revision.delete])
    log.info("%s: uploading %d files, skipping %d unchanged, deleting %d", revision.revision, len(revision.upload),
             len(revision.skip), len(revision.delete))
    info = with_retries(f"upload of step {step} to {repo_id}@{revision.revision}", lambda: api.create_commit(
        repo_id, operations, commit_message=f"step {step}", revision=revision.revision), hub)
    return info.oid


def publish(export_dir: Path, step: int, hub: dict, extra: dict[str, bytes], api=None) -> tuple[PublishPlan, dict]:
    """Upload one step; returns the plan and the commit id per revision (None: already there)."""
    from huggingface_hub import HfApi
    require_token(hub)
    api = api or HfApi(endpoint=hub.get("endpoint"))
    repo = hub["repo_id"]
    with_retries(f"creating or finding {repo}", lambda: api.create_repo(repo, private=hub.get("private", True),
                                                                          exist_ok=True), hub)
    local, sources = local_files(export_dir, extra)
    remote_main = with_retries(f"listing {repo}@main", lambda: remote_tree(api, repo, "main"), hub) or {}
    remote_branch = with_retries(f"listing {repo}", lambda: remote_tree(api, repo, branch(step)), hub)
    on_main = with_retries(f"reading {repo}@main", lambda: main_step(api, repo, hub), hub)
    plan = plan_step(step, local, remote_branch, remote_main, on_main)
    commits = {}
    for revision in plan.revisions:
        if revision.revision != "main":
            with_retries(f"creating branch {revision.revision}", lambda r=revision: api.create_branch(
                repo, branch=r.revision, exist_ok=True), hub)
        commits[revision.revision] = commit(api, repo, revision, sources, step, hub)
    return plan, commits
