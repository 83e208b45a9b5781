"""Watching a metric for its best value: early stopping and the best checkpoint.

    early = EarlyStopping.parse("dev/loss:20:0.001")   # --early-stop METRIC:PATIENCE[:MIN_DELTA]
    reason = early.update(value, step)                 # None, or why to stop
    best = BestSoFar.parse("dev/accuracy")             # --keep-best METRIC
    if best.update(value, step): ...                   # a new best: keep this step's checkpoint

Both decide at the exact step the value is known (each evaluation for dev metrics, each step
(early stopping) or each epoch's mean (the best checkpoint) for train metrics), never at the
next flush; their state is saved with every checkpoint, so a resumed run decides what the
uninterrupted one would. Losses improve downwards, accuracies upwards.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .errors import SpecError

METRICS = ("train/loss", "train/accuracy", "dev/loss", "dev/accuracy")


def _check_metric(field: str, text: str, metric: str, *, has_dev: bool, classifier: bool) -> None:
    if metric.startswith("dev/") and not has_dev:
        raise SpecError(f"{field} = {text!r} watches a dev metric, but the run has no dev set; pass --dev 0.2 (for "
                        "instance), or watch train/loss.")
    if metric.endswith("accuracy") and not classifier:
        raise SpecError(f"{field} = {text!r} watches an accuracy, but this run is not a classifier; watch a loss.")


@dataclass
class BestSoFar:
    metric: str
    min_delta: float = 0.0
    best: float | None = None        # the best value so far
    best_step: int = 0

    @classmethod
    def parse(cls, text: str) -> "BestSoFar | None":
        if not text:
            return None
        if text not in METRICS:
            raise SpecError(f"keep_best = {text!r}: give one of {', '.join(METRICS)}.")
        return cls(text)

    @classmethod
    def for_run(cls, text: str, *, has_dev: bool, classifier: bool) -> "BestSoFar | None":
        best = cls.parse(text)
        if best is not None:
            _check_metric("keep_best", text, best.metric, has_dev=has_dev, classifier=classifier)
        return best

    @property
    def maximise(self) -> bool:
        return self.metric.endswith("accuracy")

    @property
    def on_dev(self) -> bool:
        return self.metric.startswith("dev/")

    def update(self, value: float, step: int) -> bool:
        """Take the metric's value at `step`; True when it is a new best (by more than min_delta)."""
        if not math.isfinite(value):
            return False
        better = self.best is None or (value > self.best + self.min_delta if self.maximise
                                       else value < self.best - self.min_delta)
        if better:
            self.best, self.best_step = value, step
        return better

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key in ("best", "best_step", "waited"):
            if key in state and hasattr(self, key):
                setattr(self, key, state[key])


@dataclass
class EarlyStopping(BestSoFar):
    """Stop when the metric has not improved by more than min_delta for `patience` of its values."""
    patience: int = 1
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
        return cls(metric, min_delta, patience=patience)

    @classmethod
    def for_run(cls, text: str, *, has_dev: bool, classifier: bool) -> "EarlyStopping | None":
        """`parse`, plus what the run must have for the metric: a dev set, a classifier."""
        early = cls.parse(text)
        if early is not None:
            _check_metric("early_stop", text, early.metric, has_dev=has_dev, classifier=classifier)
        return early

    def update(self, value: float, step: int) -> str | None:  # type: ignore[override]
        """Take the metric's value at `step`; return why to stop, or None."""
        if BestSoFar.update(self, value, step):
            self.waited = 0
            return None
        self.waited += 1
        if self.waited < self.patience:
            return None
        return (f"early stop: {self.metric} did not improve by more than {self.min_delta:g} in {self.patience} "
                f"value(s); best {self.best:.6g} at step {self.best_step}")
