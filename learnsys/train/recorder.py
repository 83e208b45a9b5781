"""MetricRecorder: per-step metrics at the cost of a list append.

Recording a step keeps the loss as a detached device tensor on an accelerator (no `.item()`,
so no device sync per step) and as a float on the CPU; `flush()` turns everything buffered
into a `MetricBatch` with one `.tolist()` per kind of value, and the loop hands it to the sinks. The loop
flushes when the buffer is large, when `max_age` seconds have passed, and before every
checkpoint.

Series: 'train/loss' and 'lr' every step, 'param/<name>' (the value after the step) and
'grad/<name>' (∂loss/∂value of the batch the step used, as lecture 4's listing prints `w.grad`)
every step for models with at most 16 scalar parameters, 'train/loss_epoch' at epoch ends
when an epoch has more than one batch, and whatever `add()` was given (dev metrics). A batch
is columnar (name -> steps, values), so its cost is per series, not per row; iterating it
yields `(name, step, value)` rows in step order for sinks that want rows.
"""

from __future__ import annotations

import time
from typing import Iterator, Sequence

import torch

from .state import Progress


class MetricBatch:
    """Metrics flushed together: `series[name] = (steps, values)`, steps ascending."""

    def __init__(self, series: dict[str, tuple[Sequence[int], list[float]]]):
        self.series = series

    def __bool__(self) -> bool:
        return any(len(steps) for steps, _ in self.series.values())

    def __iter__(self) -> Iterator[tuple[str, int, float]]:
        rows = [(step, name, value) for name, (steps, values) in self.series.items()
                for step, value in zip(steps, values)]
        rows.sort(key=lambda r: r[0])
        return ((name, step, value) for step, name, value in rows)

    def last(self, name: str) -> tuple[int, float] | None:
        steps, values = self.series.get(name, ((), ()))
        return (steps[-1], values[-1]) if len(steps) else None


class MetricRecorder:
    def __init__(self, progress: Progress, param_names: list[str], params: list[torch.Tensor], *,
                 epoch_means: bool, max_rows: int = 1024, max_age: float = 0.1, device_buffers: bool | None = None):
        self.progress = progress
        self.param_names = param_names
        self.epoch_means = epoch_means
        self.max_rows = max_rows
        self.max_age = max_age
        # On the CPU a step's loss is read with .item() (no device to sync with, and cheaper than
        # keeping a tensor per step and stacking them); on an accelerator it stays a detached
        # device tensor until the flush, so recording never waits for the device.
        device = params[0].device if params else torch.device("cpu")
        self.on_cpu = device.type == "cpu" if device_buffers is None else not device_buffers  # (tests: either path)
        # Parameter values are read through flat views that share storage with the parameters, so
        # they follow every in-place update (optimizer steps, load_state_dict, rollbacks): on the
        # CPU numpy views read as one list of floats per step; on an accelerator the values land
        # in rows of one preallocated (max_rows, P) device buffer, read at the flush.
        views = [p.detach().reshape(-1) for p in params] if param_names else []
        # Gradients are read after the step, where the loop leaves them until the next step's
        # zero_grad (no torch optimiser changes .grad in place). `zero_grad()` sets them to None,
        # so each step's are new tensors: no view can follow them. On the CPU `.item()` (one-value
        # tensors) or `.tolist()` is the cheap read; on an accelerator they are copied into a buffer.
        self._params = list(params) if param_names else []
        # (parameter, holds one value, zeros for a parameter the loss did not reach)
        self._grad_readers = [(p, p.numel() == 1, [0.0] * p.numel()) for p in self._params]
        if self.on_cpu:
            self._views = [v.numpy() for v in views]
            self._param_rows: list[list[float]] = []   # per step: P values, then their P gradients
            self._param_buf = self._grad_buf = None
        else:
            self._views = views
            n_values = sum(v.numel() for v in views)
            self._param_buf = torch.empty(max_rows, n_values, dtype=views[0].dtype, device=device) if views else None
            self._grad_buf = torch.empty_like(self._param_buf) if views else None
        self._first_step = 0
        self._losses: list = []            # floats on the CPU, 0-dim tensors on an accelerator
        self._lrs: list[float] = []
        self._accuracies: list = []        # classifiers: each step's batch accuracy
        self._grad_norms: list = []        # --clip-grad-norm: each step's norm before clipping
        self._last_flushed = None          # the last loss of the previous flush
        self._epoch_ends: list[int] = []   # steps at which an epoch ended, since the last flush
        self._extra: list[tuple[str, int, float]] = []
        self._last_flush = time.perf_counter()

    def record(self, step: int, loss: torch.Tensor, lr: float, accuracy: torch.Tensor | None = None,
               grad_norm: torch.Tensor | None = None) -> float | torch.Tensor:
        """The hot path: called once per optimiser step. Returns the loss as recorded (a float on
        the CPU, a detached device tensor elsewhere), for the guard to read without another call."""
        if not self._losses:
            self._first_step = step
        value = loss.item() if self.on_cpu else loss.detach()
        self._losses.append(value)
        self._lrs.append(lr)
        if accuracy is not None:
            self._accuracies.append(accuracy.item() if self.on_cpu else accuracy.detach())
        if grad_norm is not None:
            self._grad_norms.append(grad_norm.item() if self.on_cpu else grad_norm.detach())
        if self._views:
            if self.on_cpu:  # one list per step (fewer objects for the garbage collector to track)
                row = [v for view in self._views for v in view.tolist()]           # P floats
                for p, one_value, zeros in self._grad_readers:
                    g = p.grad
                    if g is None:
                        row.extend(zeros)
                    elif one_value:
                        row.append(g.item())
                    else:
                        row.extend(g.reshape(-1).tolist())
                self._param_rows.append(row)                                    # 2P floats
                return value
            row = len(self._losses) - 1
            if row == self._param_buf.shape[0]:  # a caller that records past max_rows without flushing
                self._param_buf = torch.cat([self._param_buf, self._param_buf])
                self._grad_buf = torch.cat([self._grad_buf, self._grad_buf])
            torch.cat(self._views, out=self._param_buf[row])                   # (P,)
            torch.cat([p.grad.reshape(-1) if p.grad is not None else torch.zeros_like(v)
                       for p, v in zip(self._params, self._views)], out=self._grad_buf[row])   # (P,)
        return value

    def latest(self, name: str) -> float:
        """The last recorded value of a per-step train metric (train/loss, train/accuracy)."""
        column = self._losses if name == "train/loss" else self._accuracies
        return float(column[-1])

    def latest_loss(self) -> float | torch.Tensor | None:
        """The last recorded step's loss (a float on the CPU, a device tensor elsewhere), also
        after a flush; None before the first step."""
        return self._losses[-1] if self._losses else self._last_flushed

    def epoch_loss(self) -> float:
        """The mean train loss of the epoch that just ended (ReduceLROnPlateau without a dev set),
        summed one loss at a time from the carried sum as `flush` sums it, so the value never
        depends on where flushes fell."""
        if not self.epoch_means:
            return float(self._losses[-1])                 # one step per epoch
        *earlier, end = self._epoch_ends
        if earlier:  # an earlier epoch ended in this buffer: this one starts after it
            start, total, count = earlier[-1] - self._first_step + 1, 0.0, 0
        else:
            start, total, count = 0, self.progress.epoch_loss_sum, self.progress.epoch_loss_count
        for loss in self._losses[start:end - self._first_step + 1]:
            total += float(loss)
            count += 1
        return total / count

    def epoch_end(self, step: int) -> None:
        if self.epoch_means:
            self._epoch_ends.append(step)

    def add(self, name: str, step: int, value: float) -> None:
        self._extra.append((name, step, value))

    def due(self) -> bool:
        return len(self._losses) >= self.max_rows or time.perf_counter() - self._last_flush >= self.max_age

    def flush(self) -> MetricBatch:
        """Everything buffered, as plain floats, one column per series."""
        self._last_flush = time.perf_counter()
        series: dict[str, tuple[Sequence[int], list[float]]] = {}
        if self._losses:
            self._last_flushed = self._losses[-1]
            n = len(self._losses)
            steps = range(self._first_step, self._first_step + n)
            losses = list(self._losses) if self.on_cpu else torch.stack(self._losses).float().tolist()
            series["train/loss"] = (steps, losses)
            series["lr"] = (steps, list(self._lrs))
            for name, column in (("train/accuracy", self._accuracies), ("grad_norm", self._grad_norms)):
                if column:
                    series[name] = (steps, list(column) if self.on_cpu else torch.stack(column).float().tolist())
                    column.clear()
            if self._views:
                if self.on_cpu:
                    both = [list(c) for c in zip(*self._param_rows)]  # (2P, n): one list per value, then per gradient
                    columns, grad_columns = both[:len(self.param_names)], both[len(self.param_names):]
                    self._param_rows.clear()
                else:
                    columns = self._param_buf[:n].T.tolist()
                    grad_columns = self._grad_buf[:n].T.tolist()
                for name, values in zip(self.param_names, columns):
                    series[f"param/{name}"] = (steps, values)
                for name, values in zip(self.param_names, grad_columns):
                    series[f"grad/{name}"] = (steps, values)
            if self.epoch_means:
                series["train/loss_epoch"] = self._epoch_means(steps, losses)
            self._losses.clear()
            self._lrs.clear()
            self._epoch_ends.clear()
        for name, step, value in self._extra:
            column = series.setdefault(name, ([], []))
            column[0].append(step)
            column[1].append(value)
        self._extra.clear()
        return MetricBatch(series)

    def _epoch_means(self, steps: range, losses: list[float]) -> tuple[list[int], list[float]]:
        """Means of each epoch that ended in this batch; the open epoch's sum carries over.
        Losses are added one at a time, so the sums do not depend on where flushes fell."""
        p = self.progress
        ends = set(self._epoch_ends)
        out_steps, out_values = [], []
        total, count = p.epoch_loss_sum, p.epoch_loss_count
        for step, loss in zip(steps, losses):
            total += loss
            count += 1
            if step in ends:
                out_steps.append(step)
                out_values.append(total / count)
                total, count = 0.0, 0
        p.epoch_loss_sum, p.epoch_loss_count = total, count
        return out_steps, out_values
