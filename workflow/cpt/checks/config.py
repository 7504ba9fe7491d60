"""Loading a config from files as `snakemake --configfile` does, for the CLIs a person runs.

Snakemake always starts from the Snakefile's config.yaml and overlays --configfile files
on it; `python -m cpt.plan configs/demo.yaml` does the same: config.yaml (of the working
directory) is the base unless the first file is a complete config itself (no key the
schema requires is missing). The result is validated and checked like the
controller does (cpt.checks.load), every error at once.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from cpt.checks import load
from cpt.checks.schema import is_complete
from cpt.settings import ConfigError

BASE = "config.yaml"


def _read(path: str) -> dict:
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as err:
        raise ConfigError(f"{path}: cannot read it ({err.strerror}); give an existing config file") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err}); fix the file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config is a YAML mapping of keys, not {type(data).__name__}; fix the file")
    return data


def config_files(paths: list[str]) -> list[str]:
    """The files in the order they apply: config.yaml first unless the first file is complete."""
    if paths and is_complete(_read(paths[0])):
        return list(paths)
    if not Path(BASE).exists():
        raise ConfigError(f"{paths[0] if paths else 'no config file'} is an overlay and there is no {BASE} here "
                          f"to lay it on; run from the repository root, or give config.yaml first")
    return [BASE, *(p for p in paths if Path(p).resolve() != Path(BASE).resolve())]


def load_config(paths: list[str]) -> dict:
    """config.yaml overlaid by `paths` (see config_files), validated with defaults and checked as the
    workflow's controller does it (every error at once, as one ConfigErrors)."""
    from snakemake.utils import update_config

    files = config_files(paths)
    config: dict = {}
    for path in files:
        update_config(config, _read(path))
    load(config, " + ".join(files))
    return config


def add_config_arguments(parser, rule: str) -> None:
    """The config arguments of a CLI that a rule also runs: files from a person, or the JSON the rule passes."""
    parser.add_argument("configs", nargs="*", default=[BASE],
                        help=f"config files as snakemake --configfile takes them: {BASE} is the base unless "
                             "the first file is a complete config")
    parser.add_argument("--config-json", help=f"the effective config as JSON (the {rule} rule passes it)")


def config_from_arguments(args) -> dict:
    """The config named by add_config_arguments' arguments (files are loaded and checked)."""
    return json.loads(args.config_json) if args.config_json else load_config(args.configs)
