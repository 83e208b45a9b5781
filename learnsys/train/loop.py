"""The training loop: batches -> forward -> loss -> backward -> step, and events out.

`Trainer.fit()` is the whole loop in one function; read it top to bottom. Everything with
a side effect (console, log file, run store, dashboard) is a callback; the loop never
prints, opens sockets or runs SQL. Helpers exist only for named ideas: `evaluate`,
`save_checkpoint`, `_flush`.

    trainer = Trainer(model=..., optimizer=..., loss_fn=..., train=(x, y), spec=spec, ...)
    trainer.load_state_dict(checkpoint_state)   # optional: resume
    result = trainer.fit()                      # FitResult(status, reason, step)

The batch size decides the algorithm of lecture 3: all rows (gradient descent), one row
(SGD) or B rows (mini-batch). Full batches use the rows in their given order, so a run
matches the lecture listing float for float; smaller batches follow a per-epoch
permutation that is a pure function of (seed, epoch), so resuming mid-epoch is an index.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from ..data import MemoryFeed, draw_torch_order_seed
from ..losses import direct
from ..data.dataset import Layout
from ..spec import RunSpec
from ..steps import call_model, join_batch
from .callbacks import Callback, CallbackList
from .checkpoint import Checkpointer
from .components import fast_zero_grad, is_plateau
from .distributed import CONTROL_EVERY, Distributed
from .evaluation import evaluate
from ..early_stop import BestSoFar, EarlyStopping
from .guard import DivergenceGuard
from .plan import plan_steps
from .precision import Precision
from .recorder import MetricRecorder
from .state import Progress, TrainState


@dataclass
class FitResult:
    status: str        # 'finished' | 'stopped' | 'failed' | 'diverged'
    reason: str
    step: int
    epoch: int


class Trainer:
    def __init__(self, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                 loss_fn: Callable | None, train: Any, dev: Any, spec: RunSpec,
                 callbacks: list[Callback] = (), checkpointer: Checkpointer | None = None,
                 param_names: list[str] = (), accuracy_fn: Callable | None = None,
                 checkpoint_at_start: bool = False, step_fn: Callable | None = None, layout: Layout | None = None,
                 n_classes: int = 0, class_ids: Callable | None = None, dist: Distributed | None = None,
                 ddp: torch.nn.Module | None = None):
        self.model, self.optimizer, self.scheduler, self.loss_fn = model, optimizer, scheduler, loss_fn
        self.dist, self.ddp = dist, ddp    # torchrun: the process group, and the DDP wrapper the step runs
        self.step_fn, self.layout = step_fn, layout or Layout("pair")
        self.spec = spec
        plan_rows = train.n_rows if hasattr(train, "batch") else train[0].shape[0]
        plan = plan_steps(spec, plan_rows)
        self.batch_size, self.n_batches, self.total_steps = plan.batch_size, plan.batches_per_epoch, plan.total_steps
        # the feeds: (x, y) tensors become the memory path; a feed object is used as it is
        self.feed = train if hasattr(train, "batch") else MemoryFeed(*train, batch_size=self.batch_size,
                                                                      shuffle=spec.shuffle, seed=spec.seed)
        self.dev = dev if dev is None or hasattr(dev, "batches") else MemoryFeed(*dev, batch_size=dev[0].shape[0],
                                                                                  shuffle=False, seed=spec.seed)
        self.callbacks = CallbackList(list(callbacks))
        self.checkpointer = checkpointer
        self.accuracy_fn, self.n_classes, self.class_ids = accuracy_fn, n_classes, class_ids
        device = next((q.device for q in model.parameters()), torch.device("cpu"))
        on_cpu = device.type == "cpu"
        self.precision = Precision(spec.precision, device)
        # the CPU reads each loss anyway; an accelerator or a process group checks at fixed steps
        self.guard = DivergenceGuard(spec.guard, every=1 if on_cpu and dist is None else CONTROL_EVERY)
        self.early_stop = EarlyStopping.for_run(spec.early_stop, has_dev=self.dev is not None,
                                                classifier=accuracy_fn is not None)
        self.keep_best = BestSoFar.for_run(spec.keep_best, has_dev=self.dev is not None,
                                           classifier=accuracy_fn is not None)
        self.progress = Progress()
        params = [p for _, p in model.named_parameters()]
        self.recorder = MetricRecorder(self.progress, list(param_names), params, epoch_means=self.n_batches > 1,
                                       max_age=0.0 if spec.pace else 0.1)
        self.resumed_from: int | None = None
        # A checkpoint at step 0 too: for models that cannot be rebuilt from the spec (a Python
        # object), so that a run killed before its first interval can still resume. Others
        # resume such a run by building it again, which is the same state.
        self.checkpoint_at_start = checkpoint_at_start
        self._stop_reason: str | None = None
        self._stop_status = "stopped"
        self.completed = -1     # the last step whose bookkeeping finished in this process
        self.updating = False   # between optimizer.step() and the end of the step's bookkeeping

    @property
    def x(self) -> Any:
        """The train inputs on the memory path (the lecture views' live landscape reads them)."""
        return self.feed.x

    @property
    def y(self) -> Any:
        return self.feed.y

    # -- control --------------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        """Ask the loop to stop after the current step (it then checkpoints and returns)."""
        self._stop_reason = reason

    @property
    def stop_requested(self) -> bool:
        return self._stop_reason is not None

    def state_dict(self) -> dict:
        return TrainState(self).state_dict()

    def load_state_dict(self, state: dict) -> None:
        TrainState(self).load_state_dict(state)
        self.resumed_from = self.progress.step

    # -- the loop -------------------------------------------------------------------------

    def fit(self) -> FitResult:
        model, optimizer, scheduler, step_fn = self.model, self.optimizer, self.scheduler, self.step_fn
        loss_fn = direct(self.loss_fn)   # a built-in loss module as its functional call (losses.direct)
        zero_grad = fast_zero_grad(optimizer)
        net, dist = self.ddp or model, self.dist  # distributed: the step runs through DDP (gradients averaged)
        feed, p, spec, recorder, accuracy = self.feed, self.progress, self.spec, self.recorder, self.accuracy_fn
        emit = self.callbacks.emit
        n_batches = self.n_batches
        per_step_scheduler = scheduler is not None and spec.scheduler_interval == "step"
        plateau = is_plateau(scheduler)
        clip = spec.clip_grad_norm or None
        autocast, scaler = self.precision.autocast, self.precision.scaler   # --precision: no-ops at 32 bits
        params = [q for q in model.parameters() if q.requires_grad] if clip else []
        early_on_train = self.early_stop is not None and not self.early_stop.on_dev
        torch_order = spec.shuffle == "torch"  # DataLoader(shuffle=True)'s order, drawn at each epoch start
        feed.torch_seed = p.order_seed if torch_order else None
        per_step_hook, epoch_hook = self.callbacks.handles("on_step"), self.callbacks.handles("on_epoch_end")
        guard = self.guard
        guard_each_step = guard.every == 1 and dist is None  # the CPU: one comparison a step, check() when it fails
        checkpoint_every, eval_every, pace = spec.checkpoint_every, spec.eval_every, spec.pace
        dev_each_epoch, dev_every_n = self.dev is not None and eval_every == 0, self.dev is not None and eval_every > 0
        best_each_epoch = self.keep_best is not None and not self.keep_best.on_dev  # --keep-best train/loss
        pace_start, pace_step0 = time.perf_counter(), p.step
        self._last_checkpoint = time.monotonic()  # the start (or the checkpoint resumed from) counts as one
        self.completed = p.step
        if not self.guard.has_snapshot:  # a fresh run, or resumed at a step where the snapshot is the state
            self.guard.snapshot(model, optimizer, scheduler)
        emit("on_fit_start", self, {"step": p.step, "epoch": p.epoch, "total_steps": self.total_steps,
                                    "resumed": self.resumed_from is not None, "resumed_from": self.resumed_from})
        if (self.checkpointer is not None or dist is not None) and self.checkpoint_at_start and p.step == 0:
            self.save_checkpoint()  # durable before the first step: a kill at any step resumes exactly
        status, reason = "finished", f"reached step {self.total_steps}"
        model.train()
        while p.step < self.total_steps:
            # -- pick the batch: all rows in order, a slice, or a slice of this epoch's permutation
            if torch_order and p.batch == 0:
                p.order_seed = feed.torch_seed = self._shared(draw_torch_order_seed())
            xb, yb = feed.batch(p.epoch, p.batch)                     # (B, ...), (B, T) / (B,) / None

            # -- one step of lecture 5: forward, loss, zero_grad, backward, step
            with autocast:
                if step_fn is None:
                    y_pred = call_model(net, xb)
                    loss = loss_fn(y_pred, yb)
                else:                                                 # the user's own step: (model, batch) -> loss
                    loss = step_fn(net, join_batch(xb, yb, self.layout))
            zero_grad()                                               # optimizer.zero_grad() (fast_zero_grad)
            (loss if scaler is None else scaler.scale(loss)).backward()
            if clip is not None:                                      # --clip-grad-norm, on the true gradients
                if scaler is not None:
                    scaler.unscale_(optimizer)
                grad_norm = torch.nn.utils.clip_grad_norm_(params, clip)
            else:
                grad_norm = None
            self.updating = True     # a failure from here to the step's end leaves no sane state to save
            if scaler is None:
                optimizer.step()
            else:                                                     # 16-mixed: skips steps with inf gradients
                scaler.step(optimizer)
                scaler.update()
            if per_step_scheduler:
                scheduler.step()
            p.step += 1
            p.batch += 1
            loss_value = recorder.record(p.step, loss, optimizer.param_groups[0]["lr"],
                                         None if accuracy is None else accuracy(y_pred, yb), grad_norm)
            if per_step_hook:  # only when a callback asks for it: a call per step costs about a microsecond
                emit("on_step", self, {"step": p.step, "loss": loss, "inputs": xb, "target": yb})

            # -- bookkeeping at fixed steps (so a resumed run decides exactly as an unbroken one)
            if p.batch == n_batches:
                recorder.epoch_end(p.step)
                p.epoch += 1
                p.batch = 0
                if dev_each_epoch:
                    self.evaluate()
                if best_each_epoch:  # the epoch's mean train loss
                    self._keep_if_best(self._epoch_loss())
                if plateau:  # ReduceLROnPlateau: the dev loss, else this epoch's mean train loss
                    scheduler.step(p.last_dev_loss if p.last_dev_loss is not None else self._epoch_loss())
                elif scheduler is not None and not per_step_scheduler:
                    scheduler.step()
                if epoch_hook:  # with full batches every step ends an epoch: no call when nobody listens
                    emit("on_epoch_end", self, {"epoch": p.epoch, "step": p.step})
            if dev_every_n and p.step % eval_every == 0:
                self.evaluate()
            control = dist is not None and (p.step == 1 or p.step % CONTROL_EVERY == 0)  # the guard's steps too
            if control:  # what every rank must decide alike: on the loss averaged over ranks, and stops
                shared_loss, stopping = dist.control(recorder.latest_loss(), self._stop_reason is not None)
                if stopping and self._stop_reason is None:
                    self._stop_reason = "stopped: another rank was asked to stop"
            if early_on_train and (dist is None or control):
                value = recorder.latest(self.early_stop.metric) if dist is None else shared_loss
                why = self.early_stop.update(value, p.step)
                if why is not None:
                    self._stop_reason, self._stop_status = why, "finished"  # done, not interrupted
            if not (guard_each_step and loss_value <= guard.limit) and guard.due(p.step):
                why = guard.check(loss_value if dist is None else shared_loss)
                if why is not None:
                    self._flush()
                    if self.guard.mode == "warn":
                        self._event("divergence", f"Divergence at step {p.step}: {why}.")
                    elif self.guard.exhausted:
                        status, reason = "diverged", (f"diverged at step {p.step} ({why}) after {self.guard.rollbacks} "
                                                      f"rollbacks down to lr {optimizer.param_groups[0]['lr']:.3g}")
                        self._event("divergence", reason[0].upper() + reason[1:] + ".")
                        break
                    else:
                        lrs = self.guard.rollback(model, optimizer, scheduler)
                        self._event("divergence", f"Divergence at step {p.step}: {why}; rolled back to the last "
                                    f"checkpoint's weights, lr now {lrs[0]:.4g}.", {"lr": lrs})
            if p.step % checkpoint_every == 0:
                # Written only when the last checkpoint is at least checkpoint_seconds old: a run of
                # tiny fast steps should not fsync several times a second. Which steps get written
                # never changes the numbers (a resume from any of them is exact).
                due = p.step < self.total_steps and time.monotonic() - self._last_checkpoint >= spec.checkpoint_seconds
                if self._shared(due) and (self.checkpointer is not None or dist is not None):
                    self.save_checkpoint()
                # The guard's rollback target: the state at the last *scheduled* checkpoint step, so
                # it is the same whether or not the run was stopped or resumed in between.
                self.guard.snapshot(model, optimizer, scheduler)
            if pace:
                delay = pace_start + (p.step - pace_step0) / pace - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            if recorder.due():
                self._flush()
            if self._stop_reason is not None and (dist is None or control or self._stop_status == "finished"):
                if p.step < self.total_steps or self._stop_status == "finished":  # a Ctrl-C at the last step: done
                    status, reason = self._stop_status, self._stop_reason  # distributed: all ranks at one step
                break
            self.completed, self.updating = p.step, False  # this step and its bookkeeping are done

        if status == "finished" and not self._finite():  # never 'finished' with a NaN loss or NaN weights
            status, reason = "diverged", (f"ended at step {p.step} with a non-finite loss or weights (lr "
                                          f"{optimizer.param_groups[0]['lr']:.3g})")
            self._event("divergence", reason[0].upper() + reason[1:] + ".")
        if (self.checkpointer is not None or dist is not None) and status not in ("failed", "diverged"):
            self.save_checkpoint()
            if self.checkpointer is not None:
                self.checkpointer.wait()  # an async write is complete (or has raised) before fit returns
        else:  # the last good checkpoint stays the newest: resume it with a smaller --lr
            self._flush()
        end = {"step": p.step, "epoch": p.epoch, "status": status, "reason": reason}
        emit("on_fit_end", self, end)
        return FitResult(status, reason, p.step, p.epoch)

    # -- named ideas ----------------------------------------------------------------------

    def _finite(self) -> bool:
        """The last loss and every weight are finite numbers."""
        last = self.recorder.latest_loss()
        if last is not None and not math.isfinite(float(last)):
            return False
        with torch.no_grad():
            return all(bool(torch.isfinite(q).all()) for q in self.model.parameters())

    def evaluate(self) -> dict:
        """Loss (and accuracy for classifiers) on the dev set at the current step (`evaluation.py`),
        recorded, and taken by early stopping and the best checkpoint."""
        out = evaluate(self) if self.dist is None or self.dist.is_main else None
        out = self._shared(out)   # distributed: rank 0 evaluates, every rank decides on its numbers
        self.progress.last_dev_loss = out["dev/loss"]
        if self.keep_best is not None and self.keep_best.on_dev:
            self._keep_if_best(out[self.keep_best.metric])
        if self.early_stop is not None and self.early_stop.on_dev and self.early_stop.metric in out:
            why = self.early_stop.update(out[self.early_stop.metric], self.progress.step)
            if why is not None:
                self._stop_reason, self._stop_status = why, "finished"  # done, not interrupted
        for name, value in out.items():
            self.recorder.add(name, self.progress.step, value)
        return out

    def _shared(self, value: Any) -> Any:
        """Rank 0's value on every rank (distributed), else the value."""
        return value if self.dist is None else self.dist.broadcast(value)

    def _epoch_loss(self) -> float:
        """This epoch's mean train loss (averaged over ranks when distributed)."""
        value = self.recorder.epoch_loss()
        return value if self.dist is None else self.dist.mean([value])[0]

    def _keep_if_best(self, value: float) -> None:
        """--keep-best: a new best value makes this step's state the run's best checkpoint."""
        if self.keep_best.update(value, self.progress.step) and (self.checkpointer or self.dist) is not None:
            state = self.state_dict()   # distributed: a collective (every rank's RNG), written by rank 0
            if self.checkpointer is not None:
                self.checkpointer.save_best(self.progress.step, state, self.keep_best.metric, value,
                                            background=self.spec.async_checkpoint)

    def save_checkpoint(self) -> None:
        """Flush metrics, let sinks make them durable, then write the state atomically.

        The order is the resume contract: every metric row up to `step` is durable before the
        checkpoint for `step` can exist. With `spec.async_checkpoint` the state is copied to host
        memory here and written on a background thread (still after the barrier)."""
        self._flush()
        step = self.progress.step
        self._last_checkpoint = time.monotonic()
        state = self.state_dict()  # distributed: every rank's RNG is gathered on rank 0, which alone writes
        if self.checkpointer is None:
            return
        self.callbacks.emit("on_checkpoint", self, {"step": step, "phase": "before", "path": None})
        if self.spec.async_checkpoint:
            path = self.checkpointer.save_async(step, state)
        else:
            path = self.checkpointer.save(step, state)
        self.callbacks.emit("on_checkpoint", self, {"step": step, "phase": "after", "path": str(path)})

    def _flush(self) -> None:
        batch = self.recorder.flush()
        if batch:
            self.callbacks.emit("on_metrics", self, {"batch": batch})

    def _event(self, kind: str, message: str, data: dict | None = None) -> None:
        self.callbacks.emit("on_event", self, {"kind": kind, "step": self.progress.step, "message": message,
                                               "data": data})
