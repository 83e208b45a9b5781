"""Everything exact resume needs, and nothing else.

`Progress` counts where the loop is (step, epoch, batch inside the epoch) plus the part of
the epoch's loss sum already seen; `rng_state()` captures every random generator; the
model, optimiser, scheduler, guard and callbacks bring their own `state_dict()`.
`TrainState.state_dict()` gathers all of it as plain data and tensors, which
`torch.load(..., weights_only=True)` can read back without running pickled code.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError

STATE_FORMAT = 1


@dataclass
class Progress:
    step: int = 0              # optimiser steps completed
    epoch: int = 0             # epochs completed
    batch: int = 0             # batches completed inside the current epoch
    epoch_loss_sum: float = 0.0  # sum of this epoch's per-step losses flushed so far
    epoch_loss_count: int = 0
    last_dev_loss: float | None = None  # what ReduceLROnPlateau steps on between evaluations
    order_seed: int | None = None       # --shuffle torch: the seed of this epoch's order

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def rng_state() -> dict:
    """Every RNG the loop or a model may draw from: python, numpy, torch CPU and CUDA."""
    version, internal, gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python": [version, list(internal), gauss],
        "numpy": [np_kind, torch.from_numpy(np_keys.astype(np.int64)), np_pos, np_has_gauss, np_gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = state["numpy"]
    np.random.set_state((np_kind, np_keys.numpy().astype(np.uint32), np_pos, np_has_gauss, np_gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def environment() -> dict:
    """What decides the floating-point results besides the state: a resume compares it and says
    in one line when bitwise exactness cannot be promised (another torch, thread count, ...)."""
    return {"torch": str(torch.__version__), "threads": torch.get_num_threads(),
            "deterministic": torch.are_deterministic_algorithms_enabled()}


class TrainState:
    """The whole resumable state of a trainer, as one `state_dict()`."""

    def __init__(self, trainer: Any):
        self.trainer = trainer

    def state_dict(self) -> dict:
        t = self.trainer
        return {
            "format": STATE_FORMAT,
            "model": t.model.state_dict(),
            "optimizer": t.optimizer.state_dict(),
            "scheduler": None if t.scheduler is None else t.scheduler.state_dict(),
            "progress": t.progress.state_dict(),
            "rng": rng_state(),
            # off the checkpoint_every schedule (Ctrl-C, the end) the guard's rollback target is
            # an older state, so it travels with the checkpoint
            "guard": t.guard.state_dict(with_snapshot=t.progress.step % t.spec.checkpoint_every != 0),
            "env": environment(),
            "callbacks": t.callbacks.state_dict(),
            "early_stop": None if t.early_stop is None else t.early_stop.state_dict(),
            "keep_best": None if t.keep_best is None else t.keep_best.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        t = self.trainer
        if state.get("format") != STATE_FORMAT:
            raise CheckpointError(f"The checkpoint holds a train state of format {state.get('format')!r}, but this "
                                  f"learnsys reads format {STATE_FORMAT}; resume it with the learnsys that wrote it, "
                                  "or start a new run.")
        t.model.load_state_dict(state["model"])
        t.optimizer.load_state_dict(state["optimizer"])
        if t.scheduler is not None and state["scheduler"] is not None:
            t.scheduler.load_state_dict(state["scheduler"])
        t.progress.load_state_dict(state["progress"])
        t.guard.load_state_dict(state["guard"])
        t.callbacks.load_state_dict(state["callbacks"])
        if t.early_stop is not None and state.get("early_stop"):
            t.early_stop.load_state_dict(state["early_stop"])
        if t.keep_best is not None and state.get("keep_best"):
            t.keep_best.load_state_dict(state["keep_best"])
        set_rng_state(state["rng"])
