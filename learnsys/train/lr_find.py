"""The learning-rate range test (L. Smith, "Cyclical Learning Rates", 2017; fastai's lr_find).

A copy of the model trains for up to `steps` batches while the learning rate grows
exponentially from `lr_min` to `lr_max`; the loss is smoothed (exponentially weighted mean,
lecture 3's β = 0.1, i.e. BETA = 0.9 on the running mean, bias-corrected: about ten points, so
the curve does not lag a tenth of the range behind) and the test stops when the smoothed loss exceeds 4× its minimum or stops being
finite. The suggestion is the lr where the smoothed loss falls fastest
against log(lr), measured over windows of a tenth of the points ("steepest descent"), taken
before the minimum; when the curve never falls, the lr at the minimum divided by 10
("minimum / 10").

    result = lr_range_test(built)          # the model, optimiser and RNGs of `built` are untouched
    result.suggestion, result.rule, result.lrs, result.losses, result.smoothed

Nothing of the run changes: the test trains a copy, with its own optimiser, and puts every
random generator back, so `train --lr auto` is the same run as `train --lr <suggestion>`.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass


from ..errors import SpecError
from ..steps import call_model, join_batch
from . import components
from .build import Built
from .state import rng_state, set_rng_state

STOP_FACTOR = 4.0
BETA = 0.9


@dataclass
class LrFindResult:
    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float
    rule: str                 # 'steepest descent' | 'minimum / 10'
    stopped: str              # why the test ended
    run_id: str = ""          # the 'lr-find' run it was stored as, if any

    def artifact(self) -> dict:
        return {"version": 1, "kind": "lr_find", **{k: v for k, v in asdict(self).items() if k != "run_id"},
                "beta": BETA, "stop_factor": STOP_FACTOR}


def _suggest(lrs: list[float], smoothed: list[float]) -> tuple[float, str]:
    """Where the smoothed loss falls fastest against log10(lr), measured over windows of a tenth
    of the points (single steps are noise), before the minimum and after the first tenth (the
    smoothing's warm-up); the window's middle lr. No descent: the minimum's lr / 10."""
    n = len(smoothed)
    best = min(range(n), key=smoothed.__getitem__)
    k = max(2, n // 10)
    logs = [math.log10(lr) for lr in lrs]
    windows = [((smoothed[i + k] - smoothed[i]) / (logs[i + k] - logs[i]), i) for i in range(n // 10, best - k + 1)]
    if windows:
        slope, start = min(windows)
        if slope < 0:
            return lrs[start + k // 2], "steepest descent"
    return lrs[best] / 10, "minimum / 10"


def lr_range_test(built: Built, *, lr_min: float = 1e-7, lr_max: float = 10.0, steps: int = 100) -> LrFindResult:
    saved_rng = rng_state()
    model = copy.deepcopy(built.model)
    model.train()
    given = built.objects.get("optimizer", built.spec.optimizer)
    optimizer = components.build_optimizer(given, model.parameters(), lr_min, built.spec.optimizer_args)
    feed, n_batches = built.train_feed, built.train_feed.batches_per_epoch
    lrs, losses, smoothed = [], [], []
    avg, lowest, stopped = 0.0, math.inf, f"reached lr_max after {steps} steps"
    try:
        for k in range(steps):
            lr = lr_min * (lr_max / lr_min) ** (k / max(steps - 1, 1))
            for group in optimizer.param_groups:
                group["lr"] = lr
            xb, yb = feed.batch(k // n_batches, k % n_batches)
            if built.step_fn is None:
                loss = built.loss_fn(call_model(model, xb), yb)
            else:
                loss = built.step_fn(model, join_batch(xb, yb, built.layout))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                stopped = f"the loss became {value} at lr {lr:.3g}"
                break
            avg = BETA * avg + (1 - BETA) * value
            current = avg / (1 - BETA ** (k + 1))
            lrs.append(lr)
            losses.append(value)
            smoothed.append(current)
            lowest = min(lowest, current)
            if k > 0 and current > STOP_FACTOR * lowest:
                stopped = f"the smoothed loss passed {STOP_FACTOR:g}x its minimum at lr {lr:.3g}"
                break
    finally:
        set_rng_state(saved_rng)
    if not smoothed:
        raise SpecError(f"The LR range test diverged at once (lr {lr_min:g}); try a smaller --lr-min.")
    suggestion, rule = _suggest(lrs, smoothed)
    return LrFindResult(lrs, losses, smoothed, suggestion, rule, stopped)
