"""What a publish job uploads: a pure function of the local export and the remote trees.

One branch per step (`step-00073500`) holds that step's export; `main` follows the
newest published step (a late retry of an older step leaves it alone). A file whose
size and hash already match the remote revision is skipped, so a rerun after a
failure uploads only what is missing; a remote file the export no longer has (a
stale weight shard) is deleted so each revision is exactly one export, except the
base model's license files (Llama 3.1: LICENSE, USE_POLICY.md), never deleted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

STATE_FILE = "cpt-publish.json"  # on every revision: the step it holds (main's says which step main follows)
CARD = "README.md"
KEEP_REMOTE = {".gitattributes", "LICENSE", "USE_POLICY.md"}  # the hub's own file; the base model's license files


def branch(step: int) -> str:
    return f"step-{step:08d}"


def published_steps(every: int | None, evaluated: list[int], eval_every: int) -> list[int]:
    """Steps with an export (evaluated, not the base model) on the `every` cadence."""
    every = every or eval_every
    if every % eval_every:
        raise ValueError(f"config: publish.hf.every ({every}) is not a multiple of eval.every ({eval_every}); "
                         "only evaluated steps have an HF export to publish. Set publish.hf.every to a multiple "
                         "of eval.every (or null for every evaluated step).")
    final = max(evaluated)
    return [s for s in evaluated if s > 0 and (s % every == 0 or s == final)]


@dataclass(frozen=True)
class FileEntry:
    """A file by content: the hub reports sha256 for LFS files and the git blob id for the rest."""
    path: str
    size: int
    sha256: str | None = None
    git_sha1: str | None = None


def git_blob_sha1(data: bytes) -> str:
    """The id git (and the hub's tree listing) gives a non-LFS file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def same_content(local: FileEntry, remote: FileEntry | None) -> bool:
    if remote is None or remote.size != local.size:
        return False
    if remote.sha256 is not None:
        return remote.sha256 == local.sha256
    return remote.git_sha1 is not None and remote.git_sha1 == local.git_sha1


@dataclass(frozen=True)
class RevisionPlan:
    revision: str
    upload: list[str]
    skip: list[str]
    delete: list[str]

    @property
    def empty(self) -> bool:
        return not (self.upload or self.delete)


def plan_revision(revision: str, local: dict[str, FileEntry], remote: dict[str, FileEntry]) -> RevisionPlan:
    upload = sorted(p for p, f in local.items() if not same_content(f, remote.get(p)))
    skip = sorted(p for p, f in local.items() if same_content(f, remote.get(p)))
    delete = sorted(p for p in remote if p not in local and p not in KEEP_REMOTE)
    return RevisionPlan(revision, upload, skip, delete)


@dataclass(frozen=True)
class PublishPlan:
    step: int
    revisions: list[RevisionPlan] = field(default_factory=list)

    def summary(self) -> dict:
        return {r.revision: {"upload": r.upload, "skip": r.skip, "delete": r.delete} for r in self.revisions}


def plan_step(step: int, local: dict[str, FileEntry], remote_branch: dict[str, FileEntry] | None,
              remote_main: dict[str, FileEntry], main_step: int | None) -> PublishPlan:
    """The step's branch (a new branch starts as a copy of main, so it is compared with
    main's tree), then main when this step is at least the one main holds."""
    revisions = [plan_revision(branch(step), local, remote_main if remote_branch is None else remote_branch)]
    if main_step is None or step >= main_step:
        revisions.append(plan_revision("main", local, remote_main))
    return PublishPlan(step, revisions)
