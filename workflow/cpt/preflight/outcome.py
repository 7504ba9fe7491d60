"""One check's result as the line a user reads, and the exit status of a list of them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    name: str
    ok: bool
    text: str          # ok: what was found; FAIL: what is wrong
    fix: str = ""

    def line(self) -> str:
        return f"ok {self.name}: {self.text}" if self.ok else f"FAIL: {self.name}: {self.text}; fix: {self.fix}"


def passed(name: str, text: str) -> Outcome:
    return Outcome(name, True, text)


def failed(name: str, text: str, fix: str) -> Outcome:
    return Outcome(name, False, text, fix)


def report(outcomes: list[Outcome]) -> tuple[str, int]:
    """The lines and the exit status: 1 when any check failed."""
    bad = sum(not o.ok for o in outcomes)
    summary = f"preflight: {len(outcomes) - bad} ok, {bad} FAIL" + (" (fix each FAIL, then rerun)" if bad else "")
    return "\n".join([*(o.line() for o in outcomes), summary]), int(bool(bad))
