"""TensorBoardSink: the same metrics, also as TensorBoard event files, for people who use it.

    learnsys train --tensorboard runs/tb      # then: tensorboard --logdir runs/tb

It writes at each flush (a few times a second), never per step, with one
`add_scalar` per point; the run store stays the source of truth. Needs the `tensorboard`
package (not a learnsys dependency). On resume it opens its writer with `purge_step`, so
TensorBoard drops what a killed process wrote after the checkpoint, as the run store does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import LearnsysError
from ..train.callbacks import Callback


def require_tensorboard():
    """SummaryWriter, or LearnsysError when the tensorboard package is missing (checked before a run exists)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise LearnsysError("--tensorboard needs the tensorboard package: `pip install tensorboard`; nothing was "
                            "written.") from None
    return SummaryWriter


class TensorBoardSink(Callback):
    def __init__(self, log_dir: str | Path, run_id: str):
        SummaryWriter = require_tensorboard()
        self._make_writer = lambda purge_step: SummaryWriter(str(Path(log_dir) / run_id), purge_step=purge_step)
        self.writer = None

    def on_fit_start(self, trainer: Any, logs: dict) -> None:
        self.writer = self._make_writer(logs["step"] + 1 if logs["resumed"] else None)

    def on_metrics(self, trainer: Any, logs: dict) -> None:
        for name, (steps, values) in logs["batch"].series.items():
            for step, value in zip(steps, values):
                self.writer.add_scalar(name, value, step)

    def on_event(self, trainer: Any, logs: dict) -> None:
        self.writer.add_text("events", f"{logs['kind']}: {logs['message']}", logs["step"])

    def on_fit_end(self, trainer: Any, logs: dict) -> None:
        self.writer.flush()
        self.writer.close()
