"""The kill harness's process: `learnsys ARGS` with every checkpoint write paused at one phase,
so that a SIGKILL lands exactly there. Test-only; production code has no such switch.

    python -m tests.checkpoint_pause PHASE SECONDS train --data ... --run-id victim

PHASE is a Checkpointer hook (learnsys/train/checkpoint.py): before-rename (both temp files
complete, nothing renamed), between-renames (the sidecar in place, the .pt not yet) or
before-manifest (both in place, the manifest not yet rewritten).
"""

from __future__ import annotations

import sys
import time

from learnsys.cli import main
from learnsys.train.checkpoint import Checkpointer

PHASES = ("before-rename", "between-renames", "before-manifest")


def pause_checkpoints(phase: str, seconds: float) -> None:
    """Make every Checkpointer of this process sleep `seconds` at `phase` of each write."""
    if phase not in PHASES:
        raise SystemExit(f"error: phase {phase!r} is not one of {', '.join(PHASES)}")
    setattr(Checkpointer, phase.replace("-", "_"), staticmethod(lambda _path: time.sleep(seconds)))


if __name__ == "__main__":
    pause_checkpoints(sys.argv[1], float(sys.argv[2]))
    raise SystemExit(main(sys.argv[3:]))
