"""`python -m cpt.data.download`: a source's files on disk (hub download, Stack-v2 contents), and
the listing its tokenize jobs shard (login or data-transfer node: compute nodes have no internet)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from cpt.atomic import atomic_path, write_json
from cpt.data.listing import SourceError, list_files
from cpt.data.stack_v2 import fetch_contents
from cpt.hub import download, snapshot_arguments

log = logging.getLogger("cpt")


def download_arguments(source: dict) -> dict:
    """Arguments of huggingface_hub.snapshot_download for a source's hub entry."""
    return snapshot_arguments(source["hub"], source["local_dir"], "dataset")


def ensure_files(name: str, source: dict, snapshot: Callable[..., object] | None = None) -> list[str]:
    """List the source's files, downloading them from the hub first when none exist."""
    files = list_files(source)
    if not files and source.get("hub"):
        log.info("source %s: no local files match %s/%s", name, source["local_dir"], source["glob"])
        download(source["hub"], source["local_dir"], "dataset", snapshot)
    if source.get("content_fetch"):
        fetch_contents(name, source)  # resumable: a no-op once every content file is there
    files = list_files(source)
    if not files:
        raise SourceError(f"source {name}: no file matches data.sources.{name}.glob={source['glob']!r} under "
                          f"local_dir={source['local_dir']!r}; fix the glob or local_dir, or set "
                          f"data.sources.{name}.hub to download it")
    return files


def write_listing(out: str | Path, local_dir: str, files: list[str]) -> None:
    """The listing tokenize jobs shard (datatrove's paths_file format: a path per line), and beside it
    `<out>.json` with each file's size and mtime: Snakemake reruns a job whose small inputs changed
    content, so that fingerprint is what makes an edited source file rerun its source's tokenize jobs."""
    with atomic_path(out) as tmp:
        tmp.write_text("".join(f"{f}\n" for f in files))
    stats = [(Path(local_dir) / f).stat() for f in files]
    write_json(f"{out}.json", [{"path": f, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
                               for f, st in zip(files, stats)])


def main(argv: list[str] | None = None) -> None:
    """python -m cpt.data.download --name N --spec JSON --out LISTING: list (downloading if needed)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description="List a source's files, downloading them from the hub if absent.")
    parser.add_argument("--name", required=True)
    parser.add_argument("--spec", required=True, help="the source's config entry as JSON")
    parser.add_argument("--out", required=True, help="listing to write (one path per line, relative to local_dir)")
    parser.add_argument("--download-only", action="store_true",
                        help="only download (a data-transfer-node job); --out gets a small record, not the listing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    files = ensure_files(args.name, json.loads(args.spec))
    if args.download_only:
        write_json(args.out, {"source": args.name, "files": len(files)})
    else:
        write_listing(args.out, json.loads(args.spec)["local_dir"], files)
    log.info("source %s: %d files", args.name, len(files))


if __name__ == "__main__":
    main()
