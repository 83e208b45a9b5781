"""ConsoleSink: a rich progress bar with the loss, its smoothed value and the ETA.

The smoothed loss is lecture 3's exponentially weighted mean of the cost, in the lecture's
own symbols: c′₀ = c₀, c′ᵢ = β·cᵢ + (1 − β)·c′ᵢ₋₁, so β is the weight of the newest cost
(β = 1: no smoothing). The default β = 0.4 is the dashboard's, so both show the same value.
A rollback by the divergence guard restores older weights, so the smoothing starts again
from the next cost, as does a smoothed value made non-finite by a diverging cost. The state
is saved in checkpoints (`state_key`), so a resumed run shows the same smoothed value it
would have. With `show=False` (a quiet run) it draws nothing but still keeps that state.
"""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..train.callbacks import Callback

DEFAULT_BETA = 0.4  # lecture 3's β, the weight of the newest cost; the dashboard's default too


def smooth(previous: float | None, cost: float, beta: float) -> float:
    """One step of lecture 3's exponentially weighted mean: c′ᵢ = β·cᵢ + (1 − β)·c′ᵢ₋₁ (c′₀ = c₀);
    a non-finite c′ᵢ₋₁ starts again from cᵢ."""
    if previous is None or not math.isfinite(previous):
        return cost
    return beta * cost + (1 - beta) * previous


class ConsoleSink(Callback):
    state_key = "console"

    def __init__(self, beta: float = DEFAULT_BETA, console: Console | None = None, show: bool = True):
        if not 0.0 < beta <= 1.0:
            raise ValueError(f"beta = {beta!r} must be in (0, 1]: the weight of the newest cost (1: no smoothing)")
        self.beta = beta
        self.show = show
        self.smoothed: float | None = None
        self.console = console or Console(stderr=True)
        self._progress: Progress | None = None
        self._task = None

    def on_fit_start(self, trainer: Any, logs: dict) -> None:
        if not self.show:
            return
        self._progress = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("loss {task.fields[loss]}  smoothed {task.fields[smoothed]}"),
                                  TimeRemainingColumn(), console=self.console, transient=False,
                                  refresh_per_second=4)  # redraws take the GIL from the loop
        self._progress.start()
        self._task = self._progress.add_task("train", total=logs["total_steps"], completed=logs["step"],
                                             loss="-", smoothed="-")

    def on_metrics(self, trainer: Any, logs: dict) -> None:
        loss = None
        for loss in logs["batch"].series.get("train/loss", ((), ()))[1]:
            self.smoothed = smooth(self.smoothed, loss, self.beta)
        if loss is not None and self._progress is not None:
            self._progress.update(self._task, completed=trainer.progress.step, loss=f"{loss:.4g}",
                                  smoothed=f"{self.smoothed:.4g}")

    def on_event(self, trainer: Any, logs: dict) -> None:
        if logs["kind"] == "divergence" and "lr" in (logs.get("data") or {}):
            self.smoothed = None  # rolled back: the costs before belong to weights that are gone
        if self._progress is not None and logs["kind"] in ("divergence", "resume", "error"):
            self._progress.console.print(f"[yellow]{logs['kind']}[/]: {logs['message']}")

    def on_fit_end(self, trainer: Any, logs: dict) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=logs["step"])
            self._progress.stop()
            self._progress = None

    def state_dict(self) -> dict:
        return {"smoothed": self.smoothed}

    def load_state_dict(self, state: dict) -> None:
        self.smoothed = state.get("smoothed")
