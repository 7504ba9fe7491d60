"""What a source has on disk: its files, and whether any are still to fetch.

Apart from the readers (cpt.data.readers, which import datatrove), the download
(cpt.data.download) and the fetcher (cpt.data.stack_v2: pyarrow, aiohttp), because the workflow
asks this at parse time, on every dry run of the reference DAG.
"""

from __future__ import annotations

from pathlib import Path


class SourceError(ValueError):
    """Bad input in a source file; the message names the file, the field and the fix."""


def list_files(source: dict) -> list[str]:
    """The source's files relative to local_dir, sorted so every job shards them alike."""
    root = Path(source["local_dir"])
    return sorted(str(p.relative_to(root)) for p in root.glob(source["glob"]) if p.is_file())


def needs_download(source: dict) -> bool:
    """Whether the source still has files to fetch: hub files absent, or Stack-v2 contents unfetched."""
    if source.get("hub") and not list_files(source):
        return True
    if not source.get("content_fetch"):
        return False
    return bool(unfetched(source))


def contents_path(root: Path, ids_path: Path) -> Path:
    """Where the fetched contents of one smol-ids file go (its presence means: done)."""
    return root / "contents" / ids_path.relative_to(root).with_suffix(".jsonl.gz")


def unfetched(source: dict) -> list[Path]:
    """The smol-ids files whose contents are not fetched yet."""
    root = Path(source["local_dir"])
    ids_files = sorted(root.glob(source["content_fetch"]["ids_glob"]))
    return [p for p in ids_files if not contents_path(root, p).exists()]
