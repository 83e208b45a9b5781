"""Callbacks: the loop's one extension point, and where all side effects live.

A callback is a class with empty `on_*` methods that receive `(trainer, logs)`. Sinks
(console, log file, run store, ...) are callbacks. A callback stops training with
`trainer.stop(reason)`, never by raising; a callback that raises anyway is reported with
its class name and the event (`CallbackError`).

Events, in the order the loop emits them:

    on_fit_start(trainer, {"step", "epoch", "total_steps", "resumed": bool,
                           "resumed_from": the step resumed from, or None for a fresh run})
    on_metrics(trainer, {"batch": MetricBatch})          # a few times a second
                                       # batch.series[name] = (steps, values); iterating the
                                       # batch yields (name, step, value) in step order
    on_step(trainer, {"step", "loss", "inputs", "target"})   # every step, only when a callback has it
    on_epoch_end(trainer, {"epoch", "step"})
    on_evaluate(trainer, {"step", "metrics": {"dev/loss", ...}, "confusion": (C, C) tensor | None,
                          "samples": {"shape", "images", "true", "pred"} | None})
    on_checkpoint(trainer, {"step", "path"|None, "phase": "before"|"after"})
                                       # "before": make everything up to `step` durable now
    on_event(trainer, {"kind", "step", "message", "data"})       # divergence, resume, stop, ...
    on_fit_end(trainer, {"step", "epoch", "status", "reason"})

A callback with state that must survive a resume implements `state_dict()` and
`load_state_dict(state)`; the train state saves it under the callback's `state_key`.
"""

from __future__ import annotations

from typing import Any

from ..errors import CallbackError


class Callback:
    state_key: str | None = None  # set to save state_dict() in checkpoints

    def on_fit_start(self, trainer: Any, logs: dict) -> None: ...
    def on_metrics(self, trainer: Any, logs: dict) -> None: ...
    def on_step(self, trainer: Any, logs: dict) -> None: ...
    def on_epoch_end(self, trainer: Any, logs: dict) -> None: ...
    def on_evaluate(self, trainer: Any, logs: dict) -> None: ...
    def on_checkpoint(self, trainer: Any, logs: dict) -> None: ...
    def on_event(self, trainer: Any, logs: dict) -> None: ...
    def on_fit_end(self, trainer: Any, logs: dict) -> None: ...

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None: ...


class CallbackList:
    """Calls every callback for an event; wraps a failure so it names the callback and event."""

    EVENTS = ("on_fit_start", "on_metrics", "on_step", "on_epoch_end", "on_evaluate", "on_checkpoint", "on_event",
              "on_fit_end")

    def __init__(self, callbacks: list[Callback]):
        self.callbacks = list(callbacks)
        # Per event, only the callbacks that do something there: with full batches an epoch ends
        # every step, and calling a row of empty methods would cost more than the bookkeeping.
        self._handlers = {event: [(cb, getattr(cb, event)) for cb in self.callbacks
                                  if getattr(type(cb), event, None) is not getattr(Callback, event)]
                          for event in self.EVENTS}

    def handles(self, event: str) -> bool:
        return bool(self._handlers[event])

    def emit(self, event: str, trainer: Any, logs: dict) -> None:
        for cb, handler in self._handlers[event]:
            try:
                handler(trainer, logs)
            except Exception as e:
                raise CallbackError(cb, event, e) from e

    def state_dict(self) -> dict:
        return {cb.state_key: cb.state_dict() for cb in self.callbacks if cb.state_key}

    def load_state_dict(self, state: dict) -> None:
        for cb in self.callbacks:
            if cb.state_key and cb.state_key in state:
                cb.load_state_dict(state[cb.state_key])
