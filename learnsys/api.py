"""The Python face of learnsys: `fit`, `train`, `resume`, `load_run` and `Run`.

    run = learnsys.fit("linear", "lecture-quadratic", lr=0.01, epochs=1000)
    run.params()["linear.weight"], run.predict([[4.0], [5.0]])
    run = learnsys.resume(run.run_id)                 # after a crash or Ctrl-C
    run = learnsys.load_run("runs/<id>")              # inspect or predict later

Thin by design: `train.build` makes the parts, `train.loop.Trainer` trains, sinks record.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from .data import DataSet, batches_per_epoch, check_finite, read_csv
from .errors import LearnsysError
from .inference import load_predictor
from .runfolder import RunFolder, check_writable, new_run_id
from .sinks.console import ConsoleSink
from .sinks.logfile import LogFileSink
from .landscape import LiveLandscape
from .sinks.store import StoreSink
from .sinks.tensorboard import TensorBoardSink, require_tensorboard
from .spec import RunSpec
from .store import RunStore
from .train.build import Built, build
from .train.callbacks import Callback
from .train.checkpoint import TEST_PAUSE_ENV, Checkpointer
from .train.loop import FitResult, Trainer
from .train.state import environment

# Fields a resume may change. epochs/steps (extend or shorten), keep_checkpoints, pace and
# async_checkpoint leave every number bitwise the same; checkpoint_every too, unless the
# divergence guard rolls back (its target is the state at the last multiple of
# checkpoint_every); lr is a deliberate change from the checkpoint on. The rest (data, model,
# batch size, shuffle, seed, optimiser, scheduler, loss, ...) would make the checkpoint mean
# something else, so a different value is refused; see docs/resume.md.
RESUME_CHANGES = ("epochs", "steps", "lr", "checkpoint_every", "checkpoint_seconds", "keep_checkpoints", "pace",
                  "async_checkpoint")


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


class Run:
    """A run folder plus what the store knows of it."""

    def __init__(self, folder: RunFolder, result: FitResult | None = None, model: torch.nn.Module | None = None):
        self.folder = folder
        self.run_id = folder.run_id
        self.result = result
        self._model = model

    @property
    def spec(self) -> RunSpec:
        return self.folder.spec()

    @property
    def exit_code(self) -> int:
        return 1 if self.result is not None and self.result.status == "failed" else 0

    def _store(self) -> RunStore:
        return RunStore(self.folder.store_path, readonly=True)

    def record(self) -> dict:
        return self._store().run(self.run_id)

    def predictor(self):
        return load_predictor(self.folder, model=self._model)

    def predict(self, x: Any) -> torch.Tensor:
        """Predictions for rows of raw features (tensor, array or nested lists), as a tensor (N, O)."""
        rows = torch.as_tensor(np.asarray(x, dtype=np.float32))
        if rows.ndim == 1:
            rows = rows[:, None]
        return torch.tensor(self.predictor().predict(rows.tolist()))

    def rows_from_values(self, values: list[float]) -> list[list[float]]:
        n = self.folder.meta()["n_features"]
        if len(values) % n:
            raise LearnsysError(f"--x got {len(values)} value(s), not a multiple of the model's {n} features.")
        return [list(values[i:i + n]) for i in range(0, len(values), n)]

    def rows_from_csv(self, path: str) -> list[list[float]]:
        """The run's feature columns of a CSV file, as written (float64), in the run's order."""
        meta = self.folder.meta()
        p = Path(path)
        if not p.is_file():
            raise LearnsysError(f"Input file {p} does not exist. Check the path given to --input.")
        header, values = read_csv(p)
        missing = [f for f in meta["feature_names"] if f not in header]
        if missing:
            raise LearnsysError(f"Input file {p} lacks feature column(s) {', '.join(missing)}; it has "
                                f"{', '.join(header)}.")
        return values[:, [header.index(f) for f in meta["feature_names"]]].tolist()

    def metrics(self) -> dict[str, tuple[list[int], list[float]]]:
        store = self._store()
        return {name: store.series(self.run_id, name) for name in store.metric_names(self.run_id)}

    def history(self) -> list[tuple[int, str, float]]:
        return self._store().all_metrics(self.run_id)

    def params(self) -> dict[str, torch.Tensor]:
        found, _ = Checkpointer(self.folder.checkpoints).latest()
        if found is None:
            raise LearnsysError("This run has no trained model yet. Run `learnsys train` first.")
        return dict(found.state["model"])

    def summary(self) -> dict:
        rec = self.record()
        info = {"id": self.run_id, "folder": str(self.folder.path), "status": rec["status"], "step": rec["step"],
                "epoch": rec["epoch"], "total_steps": rec["total_steps"], "message": rec["message"],
                "train_loss": rec["train_loss"], "dev_loss": rec["dev_loss"], "spec": rec["spec"]}
        meta = self.folder.meta()
        if meta.get("n_parameters", 0) <= 10_000:
            with contextlib.suppress(LearnsysError):
                info["params"] = {k: v.tolist() for k, v in self.params().items()}
        return info


# -- training ----------------------------------------------------------------------------

def fit(model: str | torch.nn.Module = "linear", data: str | tuple = "lecture", *, runs_dir: str | Path = "runs",
        quiet: bool = True, callbacks: Sequence[Callback] = (), **spec_fields: Any) -> Run:
    """Train a model (a name or an nn.Module) on data (a name, a path, or arrays (x, y))."""
    model_obj = model if isinstance(model, torch.nn.Module) else None
    fields = dict(spec_fields, model=f"<{type(model).__name__}>" if model_obj is not None else model)
    dataset = None
    if not isinstance(data, str):
        dataset = _arrays_to_dataset(data)
        fields["data"] = "<arrays>"
    else:
        fields["data"] = data
    spec = RunSpec.from_dict(fields)
    return train(spec, runs_dir=runs_dir, quiet=quiet, callbacks=callbacks, model=model_obj, data=dataset)


def _arrays_to_dataset(data: tuple) -> DataSet:
    try:
        x, y = data
        x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        y = torch.as_tensor(np.asarray(y, dtype=np.float32))
    except (TypeError, ValueError) as e:
        raise LearnsysError(f"data must be a name, a path or a pair (x, y) of numeric arrays ({e}).") from None
    x = x[:, None] if x.ndim == 1 else x
    y = y[:, None] if y.ndim == 1 else y
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise LearnsysError(f"data arrays x {tuple(x.shape)} and y {tuple(y.shape)} must be (N, F) and (N, T).")
    ds = DataSet(x, y, [f"x{j}" for j in range(x.shape[1])], [f"y{j}" for j in range(y.shape[1])], 0, "<arrays>")
    check_finite(ds)
    return ds


def train(spec: RunSpec, *, runs_dir: str | Path = "runs", quiet: bool = True, callbacks: Sequence[Callback] = (),
          model: torch.nn.Module | None = None, data: DataSet | None = None,
          warn: Callable[[str], None] = _warn, on_start: Callable[[Run], None] | None = None,
          tensorboard: str | Path | None = None) -> Run:
    """Create a run folder for `spec` and train it. Everything is checked before anything is written.
    `tensorboard`: also write TensorBoard event files under this folder."""
    runs_dir = Path(runs_dir)
    if tensorboard is not None:
        require_tensorboard()  # before the run exists: a refused option leaves no run behind
    built = build(spec, model=model, data=data)
    for line in built.warnings:
        warn(line)
    check_writable(runs_dir)
    run_id = spec.run_id or new_run_id(spec.model)
    save_data = None if data is None else lambda path: np.savez(path / "data.npz", x=data.x.numpy(), y=data.y.numpy())
    # One step: the folder (with data.npz), its store row and 'start' event all exist, or none does.
    folder = RunFolder.create(runs_dir, run_id, spec, {**built.meta(), "data_sha256": data_fingerprint(built)},
                              fill=save_data)
    return _execute(built, folder, None, quiet=quiet, callbacks=callbacks, model=model, on_start=on_start,
                    tensorboard=tensorboard)


def resume(run: str | Path, *, runs_dir: str | Path = "runs", changes: dict | None = None, quiet: bool = True,
           callbacks: Sequence[Callback] = (), model: torch.nn.Module | None = None,
           warn: Callable[[str], None] = _warn, on_start: Callable[[Run], None] | None = None,
           tensorboard: str | Path | None = None) -> Run:
    """Continue a run from its newest good checkpoint; the result is bitwise the uninterrupted run's."""
    folder = RunFolder.find(str(run), runs_dir)
    old_spec = folder.spec()
    saved = old_spec.to_dict()
    changes = {k: v for k, v in (changes or {}).items() if k not in saved or v != saved[k]}
    refused = [k for k in changes if k not in RESUME_CHANGES]
    if refused:
        was = ", ".join(f"{k} = {saved[k]!r}" if k in saved else k for k in refused)
        raise LearnsysError(f"Cannot change {', '.join(refused)} on resume: run {folder.run_id} was trained with "
                            f"{was}, and its checkpoints mean nothing under another value. Nothing was changed. "
                            f"Allowed changes: {', '.join(RESUME_CHANGES)}; start a new run for the rest.")
    pid = folder.training_pid()
    if pid is not None:
        raise LearnsysError(f"Run {folder.run_id} is still being trained by process {pid}; stop it first "
                            f"(Ctrl-C there, or `kill {pid}`), then resume. Nothing was changed.")
    if old_spec.data == "<arrays>":
        old_spec = old_spec.replace(data=str(folder.path / "data.npz"))
    spec = old_spec.replace(**changes) if changes else old_spec
    checkpointer = Checkpointer(folder.checkpoints)
    found, warnings = checkpointer.latest()
    for line in warnings:
        warn(line)
    never_checkpointed = found is None and not checkpointer.candidates()[0]
    if found is None and not never_checkpointed:
        raise LearnsysError(f"Run {folder.run_id} has no usable checkpoint in {folder.checkpoints}; nothing was "
                            "changed. Start it again with `learnsys train`.")
    if old_spec.model.startswith("<") and model is None:
        raise LearnsysError(f"Run {folder.run_id} was trained on a Python model object; pass the same module to "
                            "learnsys.resume(..., model=module).")
    built = build(spec, model=model)
    expected = folder.meta().get("data_sha256")
    if expected is not None and data_fingerprint(built) != expected:
        raise LearnsysError(f"The data of run {folder.run_id} ({spec.data}) is not what it was trained on (its "
                            "sha256 changed), so a resume could not be exact. Nothing was changed. Restore the "
                            "data, or start a new run.")
    if never_checkpointed:  # killed before its first checkpoint: building it again is its state at step 0
        warn(f"Run {folder.run_id} has no checkpoint yet (it was stopped before its first); starting it at step 0.")
        return _execute(built, folder, None, quiet=quiet, callbacks=callbacks, model=model, on_start=on_start,
                        resume_step=0, warn=warn, save_spec=spec if changes else None, tensorboard=tensorboard)
    n_rows = built.train[0].shape[0]
    total_steps = spec.steps or spec.epochs * batches_per_epoch(n_rows, spec.batch_size_for(n_rows))
    if found.step >= total_steps:
        run_obj = Run(folder, model=model)
        run_obj.result = FitResult("finished", f"already finished at step {found.step} of {total_steps}; nothing to "
                                   "resume (pass --epochs or --steps to extend it)", found.step,
                                   found.state["progress"]["epoch"])
        return run_obj
    for line in exactness_limits(found.state, built):
        warn(line)
    return _execute(built, folder, found.state, quiet=quiet, callbacks=callbacks, model=model,
                    on_start=on_start, resume_step=found.step, new_lr=changes.get("lr"), warn=warn,
                    save_spec=spec if changes else None, tensorboard=tensorboard)


def data_fingerprint(built: Built) -> str:
    """sha256 of the train and dev tensors exactly as the loop sees them (after split and scaling)."""
    h = hashlib.sha256()
    for part in (built.train, built.dev or ()):
        for t in part:
            h.update(str((tuple(t.shape), t.dtype)).encode())
            h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def exactness_limits(state: dict, built: Built) -> list[str]:
    """One line for each reason this resume cannot promise bitwise equality with an
    uninterrupted run (docs/resume.md, "Limits")."""
    lines = []
    if built.device.type == "cuda" and not torch.are_deterministic_algorithms_enabled():
        lines.append("Resuming on cuda without torch.use_deterministic_algorithms(True): cuda kernels may "
                     "round differently from run to run, so the result is close to, not bitwise equal to, an "
                     "uninterrupted run.")
    then, now = state.get("env") or {}, environment()
    differs = [f"{k} {then[k]} -> {now[k]}" for k in ("torch", "threads") if k in then and then[k] != now[k]]
    if differs:
        lines.append(f"The checkpoint was written under other settings ({', '.join(differs)}); results may "
                     "differ in the last bits from an uninterrupted run.")
    return lines


def load_run(run: str | Path, *, runs_dir: str | Path = "runs", model: torch.nn.Module | None = None) -> Run:
    """A finished (or stopped) run, to inspect or predict with."""
    return Run(RunFolder.find(str(run), runs_dir), model=model)


# -- one place that wires sinks, signals and the trainer ---------------------------------

@contextlib.contextmanager
def _graceful_stop(trainer: Trainer) -> Iterator[None]:
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


def _execute(built: Built, folder: RunFolder, state: dict | None, **options: Any) -> Run:
    """Train while holding the run's lock: one writer per run. A second train/resume is refused
    (RunInUseError, naming the pid) before anything is written; the kernel drops the lock when
    this process dies, which is how a killed run reads 'interrupted'."""
    with folder.lock():
        return _train_locked(built, folder, state, **options)


def _train_locked(built: Built, folder: RunFolder, state: dict | None, *, quiet: bool, callbacks: Sequence[Callback],
             model: torch.nn.Module | None, on_start: Callable[[Run], None] | None, resume_step: int | None = None,
             new_lr: float | None = None, warn: Callable[[str], None] = _warn,
             save_spec: RunSpec | None = None, tensorboard: str | Path | None = None) -> Run:
    spec = built.spec
    # The console sink is there even when quiet (hidden), so its smoothing state is always in
    # the checkpoint and a quiet run resumed with a progress bar shows the right smoothed loss.
    sinks: list[Callback] = [StoreSink(str(folder.store_path), folder.run_id), LogFileSink(folder.log_path),
                             ConsoleSink(show=not quiet)]
    if tensorboard is not None:
        sinks.append(TensorBoardSink(tensorboard, folder.run_id))
    if 1 <= len(built.param_names) <= 2:  # lectures 2-3: the exact loss surface with the path, live
        sinks.append(LiveLandscape(folder.store_path, folder.run_id))
    trainer = Trainer(model=built.model, optimizer=built.optimizer, scheduler=built.scheduler, loss_fn=built.loss_fn,
                      train=built.train, dev=built.dev, spec=spec, callbacks=[*sinks, *callbacks],
                      checkpointer=Checkpointer.with_test_pause(folder.checkpoints, spec.keep_checkpoints,
                                                                os.environ.get(TEST_PAUSE_ENV)),
                      param_names=built.param_names,
                      accuracy_fn=None if built.dev is None else _accuracy(built.loss_name),
                      checkpoint_at_start=spec.model.startswith("<"))
    if state is not None:
        trainer.load_state_dict(state)
        if new_lr is not None:
            for group in built.optimizer.param_groups:
                group["lr"] = new_lr
            if built.scheduler is not None:
                built.scheduler.base_lrs = [new_lr for _ in built.scheduler.base_lrs]
    if resume_step is not None:  # a resume (state None: of a run killed before its first checkpoint)
        store = RunStore(folder.store_path)
        dropped = store.truncate_after(folder.run_id, resume_step)
        where = f"the checkpoint at step {resume_step}" if state is not None else "the start (no checkpoint yet)"
        store.add_event(folder.run_id, resume_step, "resume",
                        f"Resumed from {where}; dropped {dropped} metric row(s) logged after it.")
        store.close()
        if save_spec is not None:
            save_spec.save(folder.path / "spec.toml")
    run = Run(folder, model=model)
    if on_start is not None:
        on_start(run)
    try:
        with _graceful_stop(trainer):
            run.result = trainer.fit()
    except BaseException as e:
        _record_failure(trainer, e)
        raise
    return run


def _record_failure(trainer: Trainer, error: BaseException) -> None:
    """The loop raised (a failing callback, out of memory, ...): finish any checkpoint write and
    tell the sinks, so the store says 'failed' with the reason instead of 'running' forever."""
    with contextlib.suppress(BaseException):
        trainer.checkpointer.wait()
    status, reason = "failed", f"{type(error).__name__}: {error}".splitlines()[0]
    if isinstance(error, KeyboardInterrupt):
        status, reason = "stopped", "interrupted twice; resume continues from the last checkpoint"
    with contextlib.suppress(BaseException):
        trainer.callbacks.emit("on_fit_end", trainer, {"step": trainer.progress.step, "epoch": trainer.progress.epoch,
                                                       "status": status, "reason": reason})


def _accuracy(loss_name: str):
    from .train.components import accuracy_fn

    return accuracy_fn(loss_name)
