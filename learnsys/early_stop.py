"""Early stopping (`--early-stop dev/loss:20[:0.001]`): stop when a metric has not improved for
PATIENCE of its values, decided at the exact step the value is known (each step for train
metrics, each evaluation for dev metrics), never at the next flush; its state is saved with
every checkpoint, so a resumed run stops where the uninterrupted one would.

    early = EarlyStopping.parse("dev/loss:20:0.001")
    reason = early.update(value, step)     # None, or why to stop
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .errors import SpecError

METRICS = ("train/loss", "train/accuracy", "dev/loss", "dev/accuracy")


@dataclass
class EarlyStopping:
    metric: str
    patience: int
    min_delta: float = 0.0
    best: float | None = None        # the best value so far
    best_step: int = 0
    waited: int = 0                  # values since the best one

    @classmethod
    def parse(cls, text: str) -> "EarlyStopping | None":
        if not text:
            return None
        parts = text.split(":")
        try:
            metric, patience = parts[0], int(parts[1])
            min_delta = float(parts[2]) if len(parts) == 3 else 0.0
            if len(parts) > 3:
                raise ValueError
        except (IndexError, ValueError):
            raise SpecError(f"early_stop = {text!r}: give METRIC:PATIENCE[:MIN_DELTA], e.g. dev/loss:20 or "
                            "dev/accuracy:10:0.001.") from None
        if metric not in METRICS or patience < 1 or not (math.isfinite(min_delta) and min_delta >= 0):
            raise SpecError(f"early_stop = {text!r}: the metric is one of {', '.join(METRICS)}, patience >= 1 and "
                            "min_delta >= 0.")
        return cls(metric, patience, min_delta)

    @classmethod
    def for_run(cls, text: str, *, has_dev: bool, classifier: bool) -> "EarlyStopping | None":
        """`parse`, plus what the run must have for the metric: a dev set, a classifier."""
        early = cls.parse(text)
        if early is not None and early.on_dev and not has_dev:
            raise SpecError(f"early_stop = {text!r} watches a dev metric, but the run has no dev set; pass --dev 0.2 "
                            "(for instance), or watch train/loss.")
        if early is not None and early.maximise and not classifier:
            raise SpecError(f"early_stop = {text!r} watches an accuracy, but this run is not a classifier; watch a "
                            "loss instead.")
        return early

    @property
    def maximise(self) -> bool:
        return self.metric.endswith("accuracy")

    @property
    def on_dev(self) -> bool:
        return self.metric.startswith("dev/")

    def update(self, value: float, step: int) -> str | None:
        """Take the metric's value at `step`; return why to stop, or None."""
        better = self.best is None or (value > self.best + self.min_delta if self.maximise
                                       else value < self.best - self.min_delta)
        if better and math.isfinite(value):
            self.best, self.best_step, self.waited = value, step, 0
            return None
        self.waited += 1
        if self.waited < self.patience:
            return None
        return (f"early stop: {self.metric} did not improve by more than {self.min_delta:g} in {self.patience} "
                f"value(s); best {self.best:.6g} at step {self.best_step}")

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key in ("best", "best_step", "waited"):
            setattr(self, key, state.get(key, getattr(self, key)))
