"""Free the space of consumed data while keeping every path: the cleanup rules' one step.

raw: a source's downloaded files, once every tokenized shard of that source exists.
tokenized: every tokenized shard's Arrow file, once the manifest (so every mixed shard) exists.

Each file is emptied (truncated to 0 bytes) with its mtime kept, rather than deleted: the
mix reads tokenized shards through the mix plan's paths, not as declared inputs, so
Snakemake's temp() would delete them too early; and a deleted output or listed source file
would make Snakemake redo it and everything after it, a newer one would look like changed
input. Training, its reruns and every eval only read mixed shards and checkpoints, so they
keep working. A job that reads an emptied file (a forced rerun of tokenize or mix_shard)
fails on it: restore the data first (re-download the source; delete the record and the
tokenized shards to re-tokenize). The record (the rule's output) lists what was emptied.

    python -m cpt.data.cleanup raw --listing sources/dclm.txt --local-dir data/sources/zyda-2 --out X.json
    python -m cpt.data.cleanup tokenized --dir results/<run>/data/tokenized --out X.json
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from cpt.atomic import write_json

log = logging.getLogger("cpt")


def empty(paths: list[Path]) -> dict:
    """Truncate each file to 0 bytes, keeping its mtime; returns files and bytes freed."""
    freed = 0
    for path in paths:
        st = path.stat()
        freed += st.st_size
        os.truncate(path, 0)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    return {"files": [str(p) for p in paths], "bytes_freed": freed}


def raw_files(listing: Path, local_dir: Path) -> list[Path]:
    """The source files a listing names (paths relative to the source's local_dir)."""
    return [local_dir / line for line in listing.read_text().splitlines() if line.strip()]


def tokenized_files(root: Path) -> list[Path]:
    return sorted(root.glob("*/*.arrow"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["raw", "tokenized"])
    parser.add_argument("--listing", type=Path, help="raw: the source's listing (list_source output)")
    parser.add_argument("--local-dir", type=Path, help="raw: the source's data.sources.<name>.local_dir")
    parser.add_argument("--dir", type=Path, help="tokenized: <run>/data/tokenized")
    parser.add_argument("--out", required=True, help="record of what was emptied (JSON)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.kind == "raw":
        if not (args.listing and args.local_dir):
            parser.error("raw needs --listing and --local-dir")
        paths = raw_files(args.listing, args.local_dir)
    else:
        if not args.dir:
            parser.error("tokenized needs --dir")
        paths = tokenized_files(args.dir)
    record = {"kind": args.kind, **empty(paths)}
    write_json(args.out, record)
    log.info("cleanup %s: emptied %d files, %.1f GB freed", args.kind, len(paths), record["bytes_freed"] / 1e9)


if __name__ == "__main__":
    main()
