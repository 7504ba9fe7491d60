"""Schema errors by key: one finding per violation, instead of jsonschema's dump of the schema.

Validation fills the schema's defaults into the config as it goes, exactly as
snakemake.utils.validate(set_default=True) does, so the rest of the workflow
sees the same config; but every violation is collected (not just the first) and
reported as key, value, rule and fix (a misspelled key with its close matches).
"""

from __future__ import annotations

import difflib
import functools
from pathlib import Path

from cpt.checks.findings import MISSING, Findings

SCHEMA = Path(__file__).parents[2] / "schemas" / "config.schema.yaml"
RULES = {
    "type": "must be of type {}", "enum": "must be one of {}", "pattern": "must match {!r}",
    "minimum": "must be >= {}", "exclusiveMinimum": "must be > {}", "maximum": "must be <= {}",
    "exclusiveMaximum": "must be < {}", "minItems": "needs at least {} items", "maxItems": "allows at most {} items",
    "minProperties": "needs at least {} entries",
}


@functools.cache
def _validator_class():
    """Draft 2020-12 with defaults filled in (the jsonschema FAQ recipe snakemake uses)."""
    from jsonschema import Draft202012Validator, validators

    validate_properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        for name, subschema in properties.items():
            if "default" in subschema:
                instance.setdefault(name, subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(Draft202012Validator, {"properties": set_defaults})


@functools.cache
def _schema() -> dict:
    import yaml

    return yaml.load(SCHEMA.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # C: ~10x faster


def key_of(path) -> str:
    """jsonschema's path as the config key a user edits: eval.tasks[2].metric."""
    key = ""
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else str(part)
    return key or "(top level)"


def _add(findings: Findings, error) -> None:
    key = key_of(error.absolute_path)
    prefix = f"{key}." if error.absolute_path else ""
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        for extra in sorted(set(error.instance) - set(allowed)):
            close = difflib.get_close_matches(extra, allowed, n=3)
            findings.error(f"{prefix}{extra}", error.instance[extra], "unknown key (not in the schema)",
                           f"did you mean {' or '.join(close)}?" if close
                           else f"remove it; keys allowed here: {', '.join(allowed)}")
        return
    if error.validator == "required":
        for name in error.validator_value:
            if isinstance(error.instance, dict) and name not in error.instance:
                findings.error(f"{prefix}{name}", MISSING, "required key is missing", f"add {prefix}{name}")
        return
    template = RULES.get(error.validator)
    rule = template.format(error.validator_value) if template else error.message.splitlines()[0][:200]
    description = error.schema.get("description") if isinstance(error.schema, dict) else None
    fix = f"change it to a value that fits{': ' + description if description else ''}"
    findings.error(key, error.instance, rule, fix)


def validate(config: dict, findings: Findings) -> None:
    """Collect every schema violation of `config` (defaults filled in) into `findings`."""
    for error in sorted(_validator_class()(_schema()).iter_errors(config), key=lambda e: list(map(str, e.path))):
        _add(findings, error)



def is_complete(config: dict) -> bool:
    """Whether `config` stands alone: no key the schema requires is missing at any depth (an
    overlay such as configs/demo.yaml leaves required keys to the config it is laid on)."""
    import copy

    errors = _validator_class()(_schema()).iter_errors(copy.deepcopy(config))
    return not any(error.validator == "required" for error in errors)
