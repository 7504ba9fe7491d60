"""Uploads to the Hugging Face hub: one step's export as a commit per revision, with
retries and errors that name the setting and the fix.

The token comes from huggingface_hub's own lookup (HF_TOKEN, then the file `hf auth
login` writes at HF_TOKEN_PATH); it is never printed. main moves only from the commit it
was read at (parent_commit), so a late retry of an older step never puts main back.
Uploads go through `create_commit`, which asks
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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from cpt.atomic import sha256_file
from cpt.publish.plan import STATE_FILE, FileEntry, PublishPlan, RevisionPlan, branch, git_blob_sha1, plan_step

log = logging.getLogger("cpt")
T = TypeVar("T")
TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
MOVED_STATUS = {409, 412}   # a commit whose parent_commit is no longer the revision's head


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
                "on the login node (it writes the file at HF_TOKEN_PATH)")
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
                           f"(it writes the file at HF_TOKEN_PATH; an exported HF_TOKEN would travel into every Slurm "
                           f"job) with a token that can write to {hub['repo_id']}; compute nodes never need it")


def remote_tree(api, repo_id: str, revision: str) -> dict[str, FileEntry] | None:
    """The files of one revision by content; None when the revision does not exist."""
    from huggingface_hub.errors import RevisionNotFoundError
    try:
        items = list(api.list_repo_tree(repo_id, recursive=True, expand=True, revision=revision))
    except RevisionNotFoundError:
        return None
    return {i.path: FileEntry(i.path, i.size, i.lfs.sha256 if i.lfs else None, i.blob_id)
            for i in items if hasattr(i, "size") and i.size is not None}


@dataclass(frozen=True)
class MainHead:
    """main as one commit: its id, the step its state file names (None: nothing published) and its files."""
    commit: str
    step: int | None
    tree: dict[str, FileEntry]


def main_head(api, repo_id: str) -> MainHead:
    """main read fresh from the hub, every file at one commit. Never a cached copy: hf_hub_download falls
    back to its cache on a timeout, 429 or 5xx, and a stale step on main would let an older step win."""
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    commit = api.repo_info(repo_id, revision="main").sha
    response = get_session().get(hf_hub_url(repo_id, STATE_FILE, revision=commit, endpoint=api.endpoint),
                                 headers=build_hf_headers(token=api.token), follow_redirects=True)
    if response.status_code == 404:
        step = None
    else:
        hf_raise_for_status(response)
        step = json.loads(response.content)["step"]
    return MainHead(commit, step, remote_tree(api, repo_id, commit) or {})


def main_moved(err: PublishError) -> bool:
    """The commit to main was refused because main is no longer at the parent it was planned on."""
    return getattr(getattr(err.__cause__, "response", None), "status_code", None) in MOVED_STATUS


def commit(api, repo_id: str, revision: RevisionPlan, sources: dict, step: int, hub: dict,
           parent: str | None = None) -> str | None:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete
    if revision.empty:
        log.info("%s: nothing to upload (%d files already there)", revision.revision, len(revision.skip))
        return None
    operations = ([CommitOperationAdd(path_in_repo=p, path_or_fileobj=sources[p]) for p in revision.upload]
                  + [CommitOperationDelete(path_in_repo=p) for p in revision.delete])
    log.info("%s: uploading %d files, skipping %d unchanged, deleting %d", revision.revision, len(revision.upload),
             len(revision.skip), len(revision.delete))
    info = with_retries(f"upload of step {step} to {repo_id}@{revision.revision}", lambda: api.create_commit(
        repo_id, operations, commit_message=f"step {step}", revision=revision.revision, parent_commit=parent), hub)
    return info.oid


def require_files(export_dir: Path, hub: dict) -> None:
    """The files the base model's license requires with every copy (Llama 3.1: LICENSE, USE_POLICY.md)."""
    missing = [name for name in hub.get("license_files", []) if not (export_dir / name).is_file()]
    if missing:
        raise PublishError(f"publish.hf: {export_dir} lacks {', '.join(missing)} (publish.hf.license_files), which the "
                           "base model's license requires with every copy. download_model fetches them now: rerun "
                           "`snakemake download_model --forcerun download_model`, then the step's export "
                           "(--forcerun eval_export)")


def publish(export_dir: Path, step: int, hub: dict, extra: dict[str, bytes], api=None) -> tuple[PublishPlan, dict]:
    """Upload one step; returns the plan and the commit id per revision (None: already there)."""
    from huggingface_hub import HfApi
    require_token(hub)
    api = api or HfApi(endpoint=hub.get("endpoint"))
    repo = hub["repo_id"]
    with_retries(f"creating or finding {repo}", lambda: api.create_repo(repo, private=hub.get("private", True),
                                                                          exist_ok=True), hub)
    require_files(export_dir, hub)
    local, sources = local_files(export_dir, extra)
    remote_branch = with_retries(f"listing {repo}", lambda: remote_tree(api, repo, branch(step)), hub)
    commits: dict[str, str | None] = {}
    # main moves only from the commit its plan was read at (parent_commit): when another step's job got
    # there first, the hub refuses, and main is read again and planned again (an older step then skips it).
    for attempt in range(1, hub.get("retries", 5) + 2):
        head = with_retries(f"reading {repo}@main", lambda: main_head(api, repo), hub)
        plan = plan_step(step, local, remote_branch, head.tree, head.step)
        for revision in plan.revisions:
            if revision.revision in commits:
                continue
            if revision.revision != "main":
                with_retries(f"creating branch {revision.revision}", lambda r=revision: api.create_branch(
                    repo, branch=r.revision, exist_ok=True), hub)
                commits[revision.revision] = commit(api, repo, revision, sources, step, hub)
                continue
            try:
                commits["main"] = commit(api, repo, revision, sources, step, hub, parent=head.commit)
            except PublishError as err:
                if not main_moved(err) or attempt > hub.get("retries", 5):
                    raise
                log.warning("main moved while step %d was planned on %s; reading it again", step, head.commit)
                break
        else:
            return plan, commits
    raise AssertionError("unreachable")
