"""The training chain's one-writer record (train/writer.json, cpt.chain.lease), read without its lock."""

from __future__ import annotations

import json
import time
from pathlib import Path


def local_trainer(writer: Path, stale_minutes: float) -> dict | None:
    """The local (non-Slurm) trainer the record names while its heartbeat is fresh (train.chain.stale_minutes),
    with the heartbeat's age; None otherwise. Read without the lock: a torn record only means nothing to show."""
    try:
        record = json.loads(writer.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    local = record.get("local") if isinstance(record, dict) else None
    if not isinstance(local, dict) or "heartbeat" not in local:
        return None
    age = time.time() - float(local["heartbeat"])
    return {**local, "heartbeat_age_s": age} if age <= stale_minutes * 60 else None
