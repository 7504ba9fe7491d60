"""What a source has on disk: its files, and whether any are still to fetch.

Apart from the readers (cpt.data.readers, which import datatrove) and the download
(cpt.data.download), because the workflow asks this at parse time, on every dry run of the
reference DAG.
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
    from cpt.data.stack_v2 import unfetched   # pyarrow: only for a source with contents to fetch
    return bool(unfetched(source))
