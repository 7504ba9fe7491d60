"""The error collector and formatter: every finding of one config, reported together.

A user fixes a config in one pass only if one dry run names every mistake, each
with the key, its value, the rule it breaks and the fix, in a few lines; a
warning (legal but likely wrong) and a pending check (needs the network or a
download, done by a login-node localrule) are listed the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cpt.settings import ConfigError

_KEY = re.compile(r"\b[a-z_]+(?:\.[\w\[\]]+)+")
MISSING = object()     # the value of a key that is absent


def shown(value) -> str:
    """A config value as the user wrote it, cut to one short line."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Finding:
    key: str            # dotted config key: train.parallel.tp, eval.tasks[2].metric
    value: object       # MISSING when the key is absent
    rule: str           # the rule the value breaks, with the numbers that decide it
    fix: str            # what to change

    def render(self) -> str:
        """At most five lines: key = value, the rule, the fix."""
        head = self.key if self.value is MISSING else f"{self.key} = {shown(self.value)}"
        return f"{head}\n    rule: {self.rule}\n    fix:  {self.fix}"

    def line(self) -> str:
        """One line, for the plan JSON's warnings."""
        head = self.key if self.value is MISSING else f"{self.key}={shown(self.value)}"
        return f"{head}: {self.rule}; {self.fix}"


class ConfigErrors(ConfigError):
    """All errors of one config; the message lists each with its key, rule and fix."""

    def __init__(self, errors: list[Finding], where: str):
        self.errors, self.where = errors, where
        body = "\n".join(f"[{i}] {e.render()}" for i, e in enumerate(errors, 1))
        super().__init__(f"{len(errors)} config error{'s' * (len(errors) > 1)} in {where}; "
                         f"all are listed, fix them, then rerun:\n{body}")


@dataclass
class Findings:
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)

    def error(self, key: str, value, rule: str, fix: str) -> None:
        self.errors.append(Finding(key, value, rule, fix))

    def warn(self, key: str, value, rule: str, fix: str) -> None:
        self.warnings.append(Finding(key, value, rule, fix))

    def pend(self, key: str, what: str) -> None:
        """A check that needs the network or a download; a login-node localrule does it."""
        self.pending.append(f"{key}: {what}")

    def error_from(self, err: ConfigError, key: str | None = None) -> None:
        """A ConfigError raised by shared code (settings, cluster): its message holds the rule and
        the fix; the key is the first dotted key it names unless given."""
        text = str(err)
        match = _KEY.search(text)
        rule, _, fix = text.rpartition("; ") if "; " in text else (text, "", "as the rule says")
        self.errors.append(Finding(key or (match.group(0) if match else "config"), MISSING, rule, fix))

    def raise_errors(self, where: str) -> None:
        if self.errors:
            raise ConfigErrors(sorted(self.errors, key=lambda e: e.key), where)

    def report(self) -> str:
        """Warnings and pending checks, for the controller's log."""
        lines = [f"config warning: {w.render()}" for w in self.warnings]
        lines += [f"config check pending: {p}" for p in self.pending]
        return "\n".join(lines)

