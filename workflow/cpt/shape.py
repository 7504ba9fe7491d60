"""The base model's shape (HF config.json fields): from the downloaded model, else from config.

The planner, the config checks and the memory trace all need it before the model is
downloaded (a dry run on a fresh checkout), so it lives on the ground floor.
"""

from __future__ import annotations

import json
from pathlib import Path

from cpt.settings import ConfigError


def model_shape(config: dict) -> tuple[dict, str]:
    """The base model's HF config.json when downloaded, else slurm.planner.model."""
    path = Path(config["model"]["base_dir"]) / "config.json"
    if path.exists():
        try:
            return json.loads(path.read_text()), str(path)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path} is not valid JSON ({err}): an interrupted download? Remove it and run "
                              "`snakemake download_model` again") from None
    if not config["slurm"]["planner"].get("model"):
        raise ConfigError(f"{path} does not exist and slurm.planner.model is not set; "
                          f"download the model (snakemake download_model) or give its shape there")
    return config["slurm"]["planner"]["model"], "config (slurm.planner.model)"
