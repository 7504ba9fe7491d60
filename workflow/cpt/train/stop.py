"""The time-limit warning, caught from the first line of the trainer.

Slurm's `--signal=USR1@<s>` may land while the ranks still import torch or load a
checkpoint; Python's default action for SIGUSR1 is to die, which would turn the
normal end of a job into a failure. `python -m cpt.train` installs this before
its heavy imports; the loop checks it at every step boundary.
"""

from __future__ import annotations

import signal


class StopRequest:
    """Remembers a SIGUSR1/SIGTERM until the next step boundary."""

    def __init__(self):
        self.requested = False
        for sig in (signal.SIGUSR1, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        self.requested = True
