"""What the login preflight looks at: the environment, the config, the Frontier profile and its
table of sources, and the commands only Frontier has (conda, sinfo, squeue), run with a timeout."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

_VARIABLE = re.compile(r"\$\{?(\w+)\}?")


@dataclass(frozen=True)
class Site:
    env: Mapping[str, str]
    config: dict        # config.yaml and overlays, validated
    profile: dict       # profiles/frontier/config.yaml
    sources: dict       # profiles/frontier/sources.yaml
    cwd: Path           # the workdir: results/ is written here
    timeout_s: float

    def run(self, argv: list[str]) -> tuple[int, str]:
        """Exit status and output (stdout, then stderr) of a command; 127 when it is not on PATH."""
        try:
            done = subprocess.run(argv, env=dict(self.env), capture_output=True, text=True, timeout=self.timeout_s)
        except FileNotFoundError:
            return 127, f"{argv[0]}: not found on PATH"
        except subprocess.TimeoutExpired:
            return 124, f"`{' '.join(argv)}` gave no answer in {self.timeout_s:g} s"
        return done.returncode, (done.stdout + done.stderr).strip()

    def expand(self, text: str) -> tuple[str, list[str]]:
        """`text` with $VAR / ${VAR} from the environment, and the names that are unset."""
        missing = [name for name in _VARIABLE.findall(text) if not self.env.get(name)]
        return _VARIABLE.sub(lambda m: self.env.get(m.group(1), m.group(0)), text), missing

    def purged_roots(self) -> list[Path]:
        """Orion's work areas (OLCF sets MEMBERWORK, PROJWORK, WORLDWORK): purged by last access."""
        return [Path(self.env[k]) for k in ("MEMBERWORK", "PROJWORK", "WORLDWORK") if self.env.get(k)]

    def purged(self, path: Path) -> bool:
        return any(path == root or root in path.parents for root in self.purged_roots())
