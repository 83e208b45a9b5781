"""MetricRecorder: per-step metrics at the cost of a list append.

Recording a step keeps the loss as a detached device tensor (no `.item()`, so no device
sync per step on a GPU); `flush()` turns everything buffered into float rows with one
`torch.stack(...).tolist()` and hands them to the sinks. The loop flushes when the buffer
is large, when `max_age` seconds have passed, at epoch ends that need an epoch mean, at
evaluations and before every checkpoint.

Rows are `(name, step, value)`: 'train/loss' and 'lr' every step, 'param/<name>' every step
for models with at most 16 scalar parameters, 'train/loss_epoch' at epoch ends when an
epoch has more than one batch.
"""

from __future__ import annotations

import time

import torch

from .state import Progress


class MetricRecorder:
    def __init__(self, progress: Progress, param_names: list[str], params: list[torch.Tensor], *,
                 epoch_means: bool, max_rows: int = 1024, max_age: float = 0.1):
        self.progress = progress
        self.param_names = param_names
        # Detached flat views share storage with the parameters, so they follow every in-place
        # update (optimizer steps, load_state_dict) and one torch.cat reads them all.
        self._views = [p.detach().view(-1) for p in params] if param_names else []
        self.epoch_means = epoch_means
        self.max_rows = max_rows
        self.max_age = max_age
        self._first_step = 0
        self._losses: list[torch.Tensor] = []
        self._lrs: list[float] = []
        self._param_rows: list[torch.Tensor] = []
        self._epoch_ends: list[int] = []   # steps at which an epoch ended, since the last flush
        self._extra: list[tuple[str, int, float]] = []
        self._last_flush = time.perf_counter()

    def record(self, step: int, loss: torch.Tensor, lr: float) -> None:
        """The hot path: called once per optimiser step."""
        if not self._losses:
            self._first_step = step
        self._losses.append(loss.detach())
        self._lrs.append(lr)
        if self._views:
            self._param_rows.append(torch.cat(self._views))  # (P,)

    def epoch_end(self, step: int) -> None:
        if self.epoch_means:
            self._epoch_ends.append(step)

    def add(self, name: str, step: int, value: float) -> None:
        self._extra.append((name, step, value))

    def due(self) -> bool:
        return len(self._losses) >= self.max_rows or time.perf_counter() - self._last_flush >= self.max_age

    def flush(self) -> list[tuple[str, int, float]]:
        """Every buffered row, in step order, as plain floats."""
        self._last_flush = time.perf_counter()
        rows: list[tuple[str, int, float]] = []
        if self._losses:
            losses = torch.stack(self._losses).float().tolist()
            params = torch.stack(self._param_rows).tolist() if self._param_rows else None
            ends = set(self._epoch_ends)
            p = self.progress
            for i, (loss, lr) in enumerate(zip(losses, self._lrs)):
                step = self._first_step + i
                rows.append(("train/loss", step, loss))
                rows.append(("lr", step, lr))
                if params is not None:
                    rows.extend((f"param/{n}", step, v) for n, v in zip(self.param_names, params[i]))
                if self.epoch_means:
                    p.epoch_loss_sum += loss
                    p.epoch_loss_count += 1
                    if step in ends:
                        rows.append(("train/loss_epoch", step, p.epoch_loss_sum / p.epoch_loss_count))
                        p.epoch_loss_sum, p.epoch_loss_count = 0.0, 0
            self._losses.clear()
            self._lrs.clear()
            self._param_rows.clear()
            self._epoch_ends.clear()
        rows.extend(self._extra)
        self._extra.clear()
        return rows
