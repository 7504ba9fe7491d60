"""Each local source: its directory, its glob (at least one file) and its text field, read
from one file's schema (the parquet footer, or the first jsonl line).

Otherwise these surface only when that source's tokenize jobs start. A hub source
whose files are not there yet is pending, not an error: list_source downloads it
on the login node (and fetches Stack-v2 contents) before any of its jobs run.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from cpt.checks.findings import Findings


def columns(path: Path, fmt: str) -> list[str]:
    """Field names of a source file without reading its data."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_schema(path).names
    with (gzip.open if path.suffix == ".gz" else open)(path, "rt", encoding="utf-8") as f:
        line = next((line for line in f if line.strip()), "{}")
    return list(json.loads(line))


def _pending_or_missing(name: str, source: dict, what: str, findings: Findings) -> bool:
    """A hub (or content-fetch) source fills itself on the login node: pending. True if so."""
    hub, fetch = source.get("hub"), source.get("content_fetch")
    if hub:
        findings.pend(f"data.sources.{name}", f"{what}; list_source downloads {hub['repo_id']}@"
                                              f"{hub.get('revision', 'main')} on the login node and checks it there")
        return True
    if fetch and any(Path(source["local_dir"]).glob(fetch["ids_glob"])):
        findings.pend(f"data.sources.{name}", f"{what}; list_source fetches the contents of its smol-ids files")
        return True
    return False


def check_source(name: str, source: dict, findings: Findings) -> None:
    key, root = f"data.sources.{name}", Path(source["local_dir"])
    if not root.is_dir():
        if not _pending_or_missing(name, source, f"{root} does not exist yet", findings):
            findings.error(f"{key}.local_dir", source["local_dir"], "is not a directory, and the source has no hub "
                           "entry to download it from", f"fix the path, or add {key}.hub")
        return
    matched, first = False, None
    for path in root.glob(source["glob"]):
        if path.is_file():
            matched = True
            if path.stat().st_size > 0:   # data.cleanup.raw empties consumed files in place
                first = path
                break
    if matched and first is None:
        return   # every file already tokenized and emptied by the cleanup rule: nothing left to read
    if first is None:
        if not _pending_or_missing(name, source, f"no file matches {source['glob']!r} yet", findings):
            findings.error(f"{key}.glob", source["glob"], f"matches no file under local_dir={source['local_dir']!r}",
                           "fix the glob (relative to local_dir; ** spans directories)")
        return
    try:
        names = columns(first, source["format"])
    except Exception as err:  # noqa: BLE001 -- any unreadable file is this finding
        findings.error(f"{key}.format", source["format"], f"{first} does not read as {source['format']} "
                                                          f"({type(err).__name__}: {str(err)[:80]})",
                       "set the format the files have, or re-download them")
        return
    from cpt.data.readers import ADAPTER_FIELDS  # datatrove: imported only when a source is local

    adapter = source.get("adapter")
    field = ADAPTER_FIELDS.get(adapter, source["text_field"])
    if field not in names:
        findings.error(f"{key}.{'adapter' if adapter else 'text_field'}", adapter or field,
                       f"{first} has no field {field!r} (fields: {', '.join(names)})",
                       "set text_field to the field that holds the text" if not adapter
                       else "fetch the contents, or drop the adapter")
    if not adapter and source["id_field"] and source["id_field"] not in names:
        findings.warn(f"{key}.id_field", source["id_field"], f"{first} has no such field (fields: {', '.join(names)})",
                      "ids fall back to <file>:<row>; set id_field to an existing field or null")


def check(config: dict, findings: Findings) -> None:
    for name, source in config["data"]["sources"].items():
        check_source(name, source, findings)
