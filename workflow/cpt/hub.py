"""Hugging Face hub downloads, for the login node (Frontier's compute nodes have no internet).

    python -m cpt.hub --repo-id meta-llama/Llama-3.1-8B --repo-type model --local-dir models/Llama-3.1-8B

Gated repositories (Llama) need a token: `hf auth login` writes the file at HF_TOKEN_PATH (env.sh puts it in
the home directory, outside the purge); an exported HF_TOKEN would travel into every Slurm job.
"""

from __future__ import annotations

import argparse
import logging
from typing import Callable

log = logging.getLogger("cpt")


# A model's license files come with it whatever allow_patterns selects: Llama 3.1's license requires
# LICENSE and USE_POLICY.md with every copy, and exports and published revisions carry them.
LICENSE_PATTERNS = ["LICENSE*", "USE_POLICY*"]


def snapshot_arguments(hub: dict, local_dir: str, repo_type: str) -> dict:
    """Arguments of huggingface_hub.snapshot_download for a config `hub:` entry."""
    patterns = hub.get("allow_patterns")
    if patterns and repo_type == "model":
        patterns = [*patterns, *(p for p in LICENSE_PATTERNS if p not in patterns)]
    return {
        "repo_id": hub["repo_id"],
        "repo_type": repo_type,
        "revision": hub.get("revision", "main"),
        "allow_patterns": patterns,
        "local_dir": local_dir,
    }


def download(hub: dict, local_dir: str, repo_type: str, snapshot: Callable[..., object] | None = None) -> None:
    if snapshot is None:
        from huggingface_hub import snapshot_download as snapshot
    arguments = snapshot_arguments(hub, local_dir, repo_type)
    log.info("downloading %s", arguments)
    snapshot(**arguments)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo-id", required=True)
    parser.add_argument("--repo-type", choices=["model", "dataset"], default="model")
    parser.add_argument("--revision", default="main")
    parser.add_argument("--allow-patterns", nargs="*")
    parser.add_argument("--local-dir", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    hub = {"repo_id": args.repo_id, "revision": args.revision, "allow_patterns": args.allow_patterns}
    download(hub, args.local_dir, args.repo_type)


if __name__ == "__main__":
    main()
