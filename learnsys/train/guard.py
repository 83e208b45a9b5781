"""DivergenceGuard: notices a loss that became NaN/Inf or exploded, and rolls back.

Lecture 3 shows what a too-high learning rate does: the cost curve shoots up. The guard
checks the loss every `every` steps: every step on the CPU, where the loop reads each loss
anyway, and every 50 steps on an accelerator (one device sync per check, never per step). On
divergence it either warns, or restores the state of the last checkpoint (kept in memory by
`snapshot()`, which the loop calls at start and at every step that is a multiple of
`checkpoint_every`) and continues with a lower learning rate: halved at the first rollback,
then divided by 20 and by 10 more at each next one (×0.5, ×0.05, ×0.005, ...), so even an lr
that is orders of magnitude too high reaches a working one within a few rollbacks.

Checks and snapshots happen at fixed steps, so a resumed run makes exactly the same
decisions as an uninterrupted one. A checkpoint written off that schedule (on Ctrl-C, at
the end) carries the snapshot itself (`state_dict(with_snapshot=True)`); one written on it
does not need to, since its state is the snapshot.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch

MAX_ROLLBACKS = 8


class DivergenceGuard:
    def __init__(self, mode: str = "rollback", *, every: int = 50, explode: float = 1e3, factor: float = 0.5):
        self.mode = mode          # 'rollback' | 'warn' | 'off'
        self.every = every        # check the loss every N steps (and at step 1)
        self.explode = explode    # loss > explode * first loss counts as divergence
        self.factor = factor      # lr multiplier at the first rollback; each later one is 10x smaller
        self.first_loss: float | None = None
        self.rollbacks = 0
        self._snapshot: dict | None = None
        # A loss at or below `limit` is fine: the loop's one comparison per step on the CPU
        # (NaN fails it too). -inf until a finite first loss is known: check() decides then.
        self.limit = -math.inf

    def due(self, step: int) -> bool:
        return self.mode != "off" and (step == 1 or step % self.every == 0)

    def check(self, loss: torch.Tensor | float) -> str | None:
        """Return why the loss diverged, or None. `loss` is the current step's loss (a tensor or
        the float the recorder already read)."""
        value = loss if isinstance(loss, float) else float(loss.detach())
        if self.first_loss is None and math.isfinite(value):
            self.first_loss = value
            self._set_limit()
        if not math.isfinite(value):
            return f"loss is {value}"
        if value > self.limit:
            return f"loss {value:.4g} exceeds {self.explode:g}x the first loss ({self.first_loss:.4g})"
        return None

    def _set_limit(self) -> None:
        self.limit = -math.inf if self.first_loss is None else self.explode * max(self.first_loss, 1e-6)

    @property
    def has_snapshot(self) -> bool:
        return self._snapshot is not None

    def snapshot(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any) -> None:
        if self.mode != "rollback":
            return
        self._snapshot = {
            "model": copy.deepcopy(model.state_dict()),
            "optimizer": copy.deepcopy(optimizer.state_dict()),
            "scheduler": None if scheduler is None else copy.deepcopy(scheduler.state_dict()),
        }

    @property
    def next_factor(self) -> float:
        """The lr multiplier of the next rollback: factor, then factor/10 at each later one."""
        return self.factor * 0.1 ** self.rollbacks

    def rollback(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any) -> list[float]:
        """Restore the snapshot and lower every group's lr; return the new lrs."""
        factor = self.next_factor
        new_lrs = [g["lr"] * factor for g in optimizer.param_groups]
        model.load_state_dict(self._snapshot["model"])
        optimizer.load_state_dict(copy.deepcopy(self._snapshot["optimizer"]))
        if scheduler is not None:
            scheduler.load_state_dict(copy.deepcopy(self._snapshot["scheduler"]))
            scheduler.base_lrs = [lr * factor for lr in scheduler.base_lrs]
        for group, lr in zip(optimizer.param_groups, new_lrs):
            group["lr"] = lr
        self.rollbacks += 1
        return new_lrs

    @property
    def exhausted(self) -> bool:
        return self.rollbacks >= MAX_ROLLBACKS

    def state_dict(self, with_snapshot: bool = False) -> dict:
        state = {"first_loss": self.first_loss, "rollbacks": self.rollbacks}
        if with_snapshot and self._snapshot is not None:
            state["snapshot"] = self._snapshot
        return state

    def load_state_dict(self, state: dict) -> None:
        self.first_loss = state["first_loss"]
        self._set_limit()
        self.rollbacks = state["rollbacks"]
        self._snapshot = state.get("snapshot")  # None: the loop snapshots the loaded state itself
