"""Loader for the shipped demo tasks: their data lives beside this file, not on a hub."""

import json
from pathlib import Path

import datasets

HERE = Path(__file__).parent


def load(data_file: str, **_metadata) -> datasets.DatasetDict:
    """lm-eval's `custom_dataset` hook: one JSON file of {split: [rows]} next to the YAML.

    A path relative to this directory keeps the tasks relocatable (lm-eval would
    resolve a plain `data_files` path against the working directory).
    """
    splits = json.loads((HERE / data_file).read_text())
    return datasets.DatasetDict({name: datasets.Dataset.from_list(rows) for name, rows in splits.items()})
