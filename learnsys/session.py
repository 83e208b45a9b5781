"""One training session: the one place that wires sinks, signals and the trainer, then runs it.

    run_session(built, folder, state=None)                       # a new run
    run_session(built, folder, state, resume_step=100, new_lr=0.05, save_spec=spec)   # a resume

The loop (`train/loop.py`) knows no sink and no signal; here its callbacks are the store,
the log file, the console, TensorBoard and the live landscape, SIGINT/SIGTERM become a
graceful stop, and a failure is told to the sinks so the run never stays 'running'.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import traceback
from pathlib import Path
from typing import Iterator, Sequence

import torch

from .errors import RunFailure, StoreFullError, TrainingFailed

from .runfolder import RunFolder
from .sinks.console import ConsoleSink
from .sinks.landscape import LiveLandscape
from .sinks.logfile import LogFileSink
from .sinks.store import StoreSink
from .sinks.tensorboard import TensorBoardSink
from .spec import RunSpec
from .losses import accuracy_fn, class_ids
from .train.build import Built
from .train.callbacks import Callback
from .train.checkpoint import Checkpointer
from .train.loop import FitResult, Trainer


@contextlib.contextmanager
def graceful_stop(trainer: Trainer) -> Iterator[None]:
    """SIGINT/SIGTERM finish the current step, checkpoint and return (main thread only).
    A second Ctrl-C does not wait for that checkpoint: the run keeps its previous one."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def handler(signum, _frame):
        if signum == signal.SIGINT and trainer.stop_requested:
            raise KeyboardInterrupt
        trainer.stop(f"interrupted by {signal.Signals(signum).name}")

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _sinks(built: Built, folder: RunFolder, quiet: bool, tensorboard: str | Path | None) -> list[Callback]:
    # The console sink is there even when quiet (hidden), so its smoothing state is always in
    # the checkpoint and a quiet run resumed with a progress bar shows the right smoothed loss.
    sinks: list[Callback] = [StoreSink(str(folder.store_path), folder.run_id, class_names=built.data.class_names),
                             LogFileSink(folder.log_path),
                             ConsoleSink(show=not quiet)]
    if tensorboard is not None:
        sinks.append(TensorBoardSink(tensorboard, folder.run_id))
    if 1 <= len(built.param_names) <= 2 and not built.lazy:  # lectures 2-3: the exact surface with the path, live
        sinks.append(LiveLandscape(folder.store_path, folder.run_id))
    return sinks


def run_session(built: Built, folder: RunFolder | None, state: dict | None, *, quiet: bool = True,
                callbacks: Sequence[Callback] = (), resume_step: int | None = None, new_lr: float | None = None,
                save_spec: RunSpec | None = None, tensorboard: str | Path | None = None,
                checkpoint_at_start: bool = False) -> FitResult:
    """Train `built` in `folder` from `state` (None: from the start) and return how it ended.
    `resume_step` marks a resume (the store drops the rows logged after it). Distributed, rank 0
    alone has the folder (sinks, checkpoints, the lock); the other ranks train with `folder` None."""
    spec = built.spec
    main = folder is not None
    trainer = Trainer(model=built.model, optimizer=built.optimizer, scheduler=built.scheduler, loss_fn=built.loss_fn,
                      train=built.train_feed, dev=built.dev_feed, spec=spec,
                      callbacks=[*_sinks(built, folder, quiet, tensorboard), *callbacks] if main else [],
                      checkpointer=Checkpointer(folder.checkpoints, spec.keep_checkpoints) if main else None,
                      param_names=built.param_names, accuracy_fn=accuracy_fn(built.loss_name),
                      checkpoint_at_start=checkpoint_at_start, step_fn=built.step_fn, layout=built.layout,
                      n_classes=built.data.n_classes, class_ids=class_ids(built.loss_name), dist=built.dist,
                      ddp=built.ddp)
    if state is not None:
        trainer.load_state_dict(state)
        if new_lr is not None:
            for group in built.optimizer.param_groups:
                group["lr"] = new_lr
            if built.scheduler is not None:
                built.scheduler.base_lrs = [new_lr for _ in built.scheduler.base_lrs]
    trainer.resumed_from = resume_step
    # One writer per run: the run folder's lock, held for as long as this process trains it (a
    # second train/resume is refused, naming this pid, before it writes anything); the kernel
    # drops it when the process dies, which is how a killed run reads 'interrupted'.
    with folder.lock() if main else contextlib.nullcontext():
        if save_spec is not None and main:
            save_spec.save(folder.path / "spec.toml")
        try:
            with graceful_stop(trainer):
                return trainer.fit()
        except BaseException as e:
            if not main:
                raise
            out = _record_failure(trainer, folder, e)
            if out is e:
                raise
            raise out from e
        finally:
            built.train_feed.close()


def _user_frame(error: BaseException) -> str:
    """Where the user's code raised: the innermost frame outside learnsys, torch and Python itself."""
    skip = (str(Path(__file__).resolve().parent), str(Path(torch.__file__).resolve().parent),
            str(Path(contextlib.__file__).resolve().parent))
    frames = [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith(skip)]
    if not frames:
        return ""
    f = frames[-1]
    return f" ({Path(f.filename).name}:{f.lineno} in {f.name})"


def _state_is_sane(trainer: Trainer) -> bool:
    """Whether the state is that of the last completed step: the failure came before the next
    step's update (in its forward, loss or backward), not inside the optimiser or the bookkeeping,
    and no parameter is NaN or infinite."""
    if trainer.updating or trainer.completed != trainer.progress.step:
        return False
    with torch.no_grad():
        return all(bool(torch.isfinite(p).all()) for p in trainer.model.parameters())


def _record_failure(trainer: Trainer, folder: RunFolder, error: BaseException) -> BaseException:
    """The loop raised: keep what it had. Finish any checkpoint write, flush the metrics, write a
    checkpoint of the last completed step when the state is sane, and tell the sinks (so the store
    says 'failed' with the reason, and log.txt holds the traceback). Returns the error to raise:
    one line naming the step and the user's frame, for anything that is not already one."""
    with contextlib.suppress(BaseException):
        trainer.checkpointer.wait()
    if isinstance(error, KeyboardInterrupt):
        status, reason = "stopped", "interrupted twice; resume continues from the last checkpoint"
        out: BaseException = error
    else:
        step = trainer.progress.step
        kept = ""
        if not isinstance(error, RunFailure) and trainer.checkpointer is not None and _state_is_sane(trainer):
            with contextlib.suppress(BaseException):
                trainer.save_checkpoint()
                kept = f"; checkpoint at step {step} written"
        first = str(error).splitlines()[0] if str(error) else ""
        status, reason = "failed", f"{type(error).__name__}: {first}{_user_frame(error)}"
        full = getattr(error, "error", error)  # a sink's StoreFullError comes wrapped in a CallbackError
        if isinstance(full, StoreFullError):  # its own line says "run the command again": here, resume
            out = StoreFullError(f"Run {folder.run_id} stopped after step {step}: the disk holding the run store "
                                 f"{full.store} is full. Free some space, then `learnsys resume {folder.run_id}` "
                                 "continues it from its last checkpoint.", full.store)
        elif isinstance(error, RunFailure):
            out = error
        else:
            out = TrainingFailed(f"Run {folder.run_id} failed after step {step}: {reason}{kept}. The full traceback "
                                 f"is in {folder.log_path}; fix the cause, then `learnsys resume {folder.run_id}`.")
    with contextlib.suppress(BaseException):
        trainer._flush()
    with contextlib.suppress(BaseException):
        trainer.callbacks.emit("on_fit_end", trainer, {
            "step": trainer.progress.step, "epoch": trainer.progress.epoch, "status": status, "reason": reason,
            "traceback": "".join(traceback.format_exception(error))})
    return out
