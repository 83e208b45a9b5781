"""LogFileSink: a plain-text log of the run in `<run>/log.txt` (the notes' 日志输出).

One line at start, a progress line at most every `every_s` seconds, one per event and
checkpoint, and one at the end. Lines are flushed as written, so `tail -f` follows a run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..train.callbacks import Callback


class LogFileSink(Callback):
    def __init__(self, path: str | Path, every_s: float = 1.0):
        self.path = Path(path)
        self.every_s = every_s
        self._file = None
        self._last = 0.0
        self._last_loss: float | None = None

    def _write(self, text: str) -> None:
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8", buffering=1)
        self._file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")

    def on_fit_start(self, trainer: Any, logs: dict) -> None:
        s = trainer.spec
        verb = "resumed at" if logs["resumed"] else "started at"
        self._write(f"run {verb} step {logs['step']}/{logs['total_steps']}: data={s.data} model={s.model} "
                    f"optimizer={s.optimizer} lr={s.lr} batch_size={s.batch_size} seed={s.seed}")

    def on_metrics(self, trainer: Any, logs: dict) -> None:
        batch = logs["batch"]
        last = batch.last("train/loss")
        if last is not None:
            self._last_loss = last[1]
        for name, (steps, values) in batch.series.items():
            if name.startswith("dev/"):
                for step, value in zip(steps, values):
                    self._write(f"step {step} {name} {value:.6g}")
        now = time.monotonic()
        if self._last_loss is not None and now - self._last >= self.every_s:
            self._last = now
            p = trainer.progress
            self._write(f"step {p.step}/{trainer.total_steps} epoch {p.epoch} loss {self._last_loss:.6g} "
                        f"lr {trainer.optimizer.param_groups[0]['lr']:.6g}")

    def on_checkpoint(self, trainer: Any, logs: dict) -> None:
        if logs["phase"] == "after":
            self._write(f"checkpoint at step {logs['step']}: {logs['path']}")

    def on_event(self, trainer: Any, logs: dict) -> None:
        self._write(f"{logs['kind']}: {logs['message']}")

    def on_fit_end(self, trainer: Any, logs: dict) -> None:
        loss = "" if self._last_loss is None else f", last loss {self._last_loss:.6g}"
        self._write(f"run {logs['status']} at step {logs['step']}: {logs['reason']}{loss}")
        if logs.get("traceback"):
            self._write("traceback of the failure:\n" + logs["traceback"].rstrip())
        if self._file is not None:
            self._file.close()
            self._file = None
