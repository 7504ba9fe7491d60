"""Two fingerprints of a config: what training computes, and the whole config.

`training_digest` covers only the keys that change what training computes (model,
data and mix, batch, seed, dtypes, optimizer, schedule); layout and speed settings
(mesh, compile, activation checkpointing, resources), operational settings
(logging, retries, retention) and the other stages' keys leave it unchanged.
Checkpoints record it, so a resumed chain can tell an edit that changes results
from one that does not. `config_digest` covers everything: the report, the status
view and published model cards cite it to name the exact config of a run.
"""

from __future__ import annotations

import hashlib
import json

from cpt.settings import global_batch_rows

# Dotted paths of the keys that change what training computes; everything else is "how".
TRAINING_KEYS = (
    "model.hub.repo_id", "model.hub.revision",
    "data.seq_len", "data.mix.seed", "data.mix.weighting", "data.mix.block_documents", "data.sources",
    "train.seed", "train.param_dtype", "train.reduce_dtype", "train.optimizer", "train.schedule",
)


def _lookup(config: dict, dotted: str):
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


# Keys of a source's content_fetch that change which documents it makes; the rest (rate, requests
# in flight, retries...) is how fast they are fetched.
CONTENT_FETCH_WHAT = ("ids_glob", "documents")


def training_keys(config: dict) -> dict:
    """The training-relevant values, by dotted key (absent keys read as None). The batch
    enters as global rows per step: a mesh change that keeps it changes how, not what."""
    keys = {key: _lookup(config, key) for key in TRAINING_KEYS}
    return _current_view({**keys, "train.global_batch_rows": global_batch_rows(config)})


def same_training(recorded: dict, config: dict) -> bool:
    """Whether training keys a run recorded (run.json) describe what `config` trains, seen through
    today's definition: a pipeline upgrade that stops counting a key (a fetch rate, say) changes the
    digest of an unchanged experiment, and must not be taken for an edit."""
    return _current_view(recorded) == training_keys(config)


def _current_view(keys: dict) -> dict:
    """Keys as today's definition counts them: of a source's content_fetch, only what it fetches; a
    run recorded before data.mix.block_documents existed mixed single documents (1)."""
    keys = {"data.mix.block_documents": 1, **keys}
    if not keys.get("data.sources"):
        return keys
    return {**keys, "data.sources": {name: _what_is_fetched(source) for name, source in keys["data.sources"].items()}}


def _what_is_fetched(source: dict) -> dict:
    if "content_fetch" not in source:
        return source
    fetch = {k: v for k, v in source["content_fetch"].items() if k in CONTENT_FETCH_WHAT}
    return {**source, "content_fetch": fetch}


def _digest(value) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def training_digest(config: dict) -> str:
    """16 hex digits over `training_keys(config)`."""
    return _digest(training_keys(config))


def config_digest(config: dict) -> str:
    """16 hex digits over the whole (validated, defaults-filled) config."""
    return _digest(config)
