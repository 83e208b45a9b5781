"""The Python face of learnsys: `fit`, `train`, `resume`, `load_run` and `Run`.

    run = learnsys.fit("linear", "lecture-quadratic", lr=0.01, epochs=1000)
    run.params()["linear.weight"], run.predict([[4.0], [5.0]])
    run = learnsys.resume(run.run_id)                 # after a crash or Ctrl-C
    run = learnsys.load_run("runs/<id>")              # inspect or predict later

Thin by design: `assembly` and `train/build.py` make the parts, `train/resume.py` decides
what a resume may do, `session.py` wires the sinks and runs the loop, the store sink records.
Warnings go to the stdlib logger `learnsys` (the CLI prints them as `warning: ...`).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .assembly import spec_and_objects
from .data import LazyData, as_data
from .early_stop import EarlyStopping
from .errors import LearnsysError, SpecError
from .inference import load_predictor, load_weights
from .json_floats import finite_json
from .origin import ARRAYS_FILE, Origin
from .runfolder import RunFolder, check_writable, new_run_id
from .session import run_session
from .spec import RunSpec
from .steps import join_batch
from .store import RunStore
from .train.build import build
from .train.callbacks import Callback
from .train.checkpoint import Checkpointer
from .train.loop import FitResult
from .train.lr_find import LrFindResult, lr_range_test
from .train.plan import plan_steps
from .train.resume import allowed_changes, check_same_data, data_fingerprint, exactness_limits

log = logging.getLogger("learnsys")


class Run:
    """A run folder plus what the store knows of it; `result` says how this process's training ended."""

    def __init__(self, folder: RunFolder, result: FitResult | None = None, model: torch.nn.Module | None = None):
        self.folder = folder
        self.run_id = folder.run_id
        self.result = result
        self._model = model
        self._predictor, self._predictor_of = None, None

    @property
    def spec(self) -> RunSpec:
        return self.folder.spec()

    @property
    def exit_code(self) -> int:
        return 1 if self.result is not None and self.result.status in ("failed", "diverged") else 0

    def _store(self) -> RunStore:
        return RunStore(self.folder.store_path, readonly=True)

    def record(self) -> dict:
        return self._store().run(self.run_id)

    def predictor(self, checkpoint: str | int = "last"):
        """The run's model with its newest good weights (or those of `checkpoint`: best, last or a
        step); loaded once, again only when a newer checkpoint appears (a resume went on)."""
        newest = (checkpoint, Checkpointer(self.folder.checkpoints).candidates()[0][:1])
        if self._predictor is None or self._predictor_of != newest:
            self._predictor = load_predictor(self.folder, model=self._model, checkpoint=checkpoint)
            self._predictor_of = newest
        return self._predictor

    def predict(self, x: Any, *, proba: bool = False) -> torch.Tensor:
        """Predictions for raw inputs (a tensor (N, ...), an array or nested lists) as a tensor:
        the model's outputs, or for classifiers class ids (N,), or with `proba` probabilities."""
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        return self.predictor().predict_tensor(x, proba=proba)

    def metrics(self) -> dict[str, tuple[list[int], list[float]]]:
        store = self._store()
        return {name: store.series(self.run_id, name) for name in store.metric_names(self.run_id)}

    def history(self) -> list[tuple[int, str, float]]:
        return self._store().all_metrics(self.run_id)

    def params(self) -> dict[str, torch.Tensor]:
        return dict(load_weights(self.folder).state["model"])

    def summary(self) -> dict:
        rec = self.record()
        info = {"id": self.run_id, "kind": self.folder.kind(), "folder": str(self.folder.path),
                **{k: rec[k] for k in ("status", "step", "epoch", "total_steps", "message", "train_loss", "dev_loss",
                                       "spec")}}
        meta = self.folder.meta()
        evaluation = self._store().artifact(self.run_id, "evaluation")
        if evaluation and evaluation.get("confusion") is not None:
            info["confusion"] = {"step": evaluation["step"], "rows_true_columns_predicted": evaluation["confusion"]}
        if self.folder.kind() == "search":
            info["best"] = {"point": meta.get("best"), "loss": meta.get("best_loss")}
        elif meta.get("n_parameters", 0) <= 10_000:
            with contextlib.suppress(LearnsysError):
                info["params"] = {k: v.tolist() for k, v in self.params().items()}
        return info


# -- training ----------------------------------------------------------------------------

def fit(model: str | torch.nn.Module = "linear", data: Any = "lecture", *, runs_dir: str | Path = "runs",
        quiet: bool = True, callbacks: Sequence[Callback] = (), **spec_fields: Any) -> Run:
    """Train a model (a name or an nn.Module) on data (a name or path, arrays (x, y), a dict of
    tensors, or a torch Dataset). `spec_fields` are RunSpec fields (lr, epochs, batch_size, ...);
    loss, optimizer, scheduler and step may also be objects (docs/python.md)."""
    spec, objects, origin = spec_and_objects(model, data, spec_fields)
    return train(spec, runs_dir=runs_dir, quiet=quiet, callbacks=callbacks, objects=objects, origin=origin)


def train(spec: RunSpec, *, runs_dir: str | Path = "runs", quiet: bool = True, callbacks: Sequence[Callback] = (),
          objects: dict | None = None, origin: Origin | None = None, tensorboard: str | Path | None = None) -> Run:
    """Create a run folder for `spec` and train it. Everything is checked before anything is written.
    `objects`: parts given from Python (`assembly.spec_and_objects`); `tensorboard`: also write
    TensorBoard event files under this folder."""
    runs_dir = Path(runs_dir)
    objects = objects or {}
    origin = origin or Origin.of(spec, objects=objects, data_given=_data_given(objects.get("data")))
    finder = None
    if spec.lr == "auto":  # the LR range test on a copy, then the run with its suggestion
        finder = lr_range_test(build(spec.replace(lr=1e-3), objects))
        log.warning(f"--lr auto: the LR range test suggests lr = {finder.suggestion:.3g} ({finder.rule}); "
                    "training with it.")
        spec = spec.replace(lr=finder.suggestion)
    built = build(spec, objects)
    for line in built.warnings:
        log.warning(line)
    check_writable(runs_dir)
    meta = {**built.meta(), "kind": "train", "origin": origin.to_meta(), "data_sha256": data_fingerprint(built)}
    if finder is not None:
        meta["lr_find"] = {"suggestion": finder.suggestion, "rule": finder.rule}
    folder = RunFolder.create(runs_dir, spec.run_id or new_run_id(spec.model), built.spec, meta)
    if finder is not None:
        _put_artifact(folder, "lr_find", finder.artifact())
    if origin.data == "arrays":
        data = built.data
        torch.save(join_batch(data.x, data.y, data.layout), folder.path / ARRAYS_FILE)
    result = run_session(built, folder, None, quiet=quiet, callbacks=callbacks, tensorboard=tensorboard,
                         checkpoint_at_start=origin.model == "object")
    return Run(folder, result, model=objects.get("model"))


def lr_find(model: str | torch.nn.Module = "linear", data: Any = "lecture", *, runs_dir: str | Path = "runs",
            lr_min: float = 1e-7, lr_max: float = 10.0, num_steps: int = 100, store: bool = True,
            **spec_fields: Any) -> LrFindResult:
    """The learning-rate range test on a copy of the model (`train/lr_find.py`): returns the
    losses by lr and a suggested lr with the rule that chose it; with `store` also a run of
    kind 'lr-find' whose 'lr_find' artifact the dashboard draws (loss against lr, log axis)."""
    if not (0 < lr_min < lr_max) or not 3 <= num_steps <= 100_000:
        raise SpecError(f"lr_min = {lr_min!r} and lr_max = {lr_max!r} need 0 < lr_min < lr_max, and num_steps = "
                        f"{num_steps!r} 3..100000.")
    fields = {**spec_fields, "lr": lr_min}
    spec, objects, _ = spec_and_objects(model, data, fields)
    result = lr_range_test(build(spec, objects), lr_min=lr_min, lr_max=lr_max, steps=num_steps)
    if store:
        runs_dir = Path(runs_dir)
        check_writable(runs_dir)
        folder = RunFolder.create(runs_dir, new_run_id(f"lr-find-{spec.model}"), spec.replace(run_id=""),
                                  {"kind": "lr-find", "suggestion": result.suggestion, "rule": result.rule})
        _put_artifact(folder, "lr_find", result.artifact())
        store_ = RunStore(folder.store_path)
        try:
            store_.update_run(folder.run_id, status="finished", step=len(result.lrs), total_steps=num_steps,
                              message=f"suggested lr {result.suggestion:.3g} ({result.rule}); {result.stopped}")
        finally:
            store_.close()
        result.run_id = folder.run_id
    return result


def _put_artifact(folder: RunFolder, name: str, data: dict) -> None:
    store = RunStore(folder.store_path)
    try:
        store.put_artifact(folder.run_id, name, finite_json(data))
    finally:
        store.close()


def _data_given(data: Any) -> str | None:
    return None if data is None else "object" if isinstance(data, LazyData) else "arrays"


def _objects(model: Any = None, data: Any = None, **parts: Any) -> dict:
    """The parts a resume or load is given again from Python, as `assemble` takes them."""
    out = {k: v for k, v in parts.items() if v is not None}
    if model is not None:
        out["model"] = model
    if data is not None:
        out["data"] = as_data(data, source="<object>")
    return out


def resume(run: str | Path, *, runs_dir: str | Path = "runs", changes: dict | None = None, quiet: bool = True,
           callbacks: Sequence[Callback] = (), model: torch.nn.Module | None = None, data: Any = None,
           loss: Any = None, optimizer: Any = None, scheduler: Any = None, step: Any = None,
           tensorboard: str | Path | None = None) -> Run:
    """Continue a run from its newest good checkpoint; the result is bitwise the uninterrupted run's.
    Parts that were given as Python objects (model, data, loss, ...) are given again here."""
    folder = RunFolder.find(str(run), runs_dir)
    if folder.kind() != "train":
        raise LearnsysError(f"Run {folder.run_id} is a {folder.kind()} run; only runs made by `learnsys train` "
                            "can be resumed.")
    objects = _objects(model, data, loss=loss, optimizer=optimizer, scheduler=scheduler, step=step)
    saved = folder.rebuild_spec(given=objects, hint="pass them again: learnsys.resume(RUN, model=..., "
                                                    "optimizer=..., ...) with the same objects")
    changes = allowed_changes(folder.run_id, folder.spec(), changes or {})
    pid = folder.training_pid()
    if pid is not None:
        raise LearnsysError(f"Run {folder.run_id} is still being trained by process {pid}; stop it first "
                            f"(Ctrl-C there, or `kill {pid}`), then resume. Nothing was changed.")
    spec = saved.replace(**changes) if changes else saved
    checkpointer = Checkpointer(folder.checkpoints)
    found, warnings = checkpointer.latest()
    for line in warnings:
        log.warning(line)
    never_checkpointed = found is None and not checkpointer.candidates()[0]
    if found is None and not never_checkpointed:
        raise LearnsysError(f"Run {folder.run_id} has no usable checkpoint in {folder.checkpoints}; nothing was "
                            "changed. Start it again with `learnsys train`.")
    built = build(spec, objects)
    check_same_data(folder.run_id, built, folder.meta().get("data_sha256"))
    save_spec = folder.spec().replace(**changes) if changes else None
    if never_checkpointed:  # killed before its first checkpoint: building it again is its state at step 0
        log.warning(f"Run {folder.run_id} has no checkpoint yet (it was stopped before its first); starting it at "
                    "step 0.")
        result = run_session(built, folder, None, quiet=quiet, callbacks=callbacks, resume_step=0,
                             save_spec=save_spec, tensorboard=tensorboard)
        return Run(folder, result, model=model)
    total_steps = plan_steps(spec, built.n_train).total_steps
    early = EarlyStopping.parse(spec.early_stop)
    if early is not None and found.state.get("early_stop"):
        early.load_state_dict(found.state["early_stop"])
        if early.waited >= early.patience:
            return Run(folder, FitResult("finished", f"already finished at step {found.step} by early stopping "
                                         f"({spec.early_stop}); nothing to resume", found.step,
                                         found.state["progress"]["epoch"]), model=model)
    if found.step >= total_steps:
        return Run(folder, FitResult("finished", f"already finished at step {found.step} of {total_steps}; nothing "
                                     "to resume (pass --epochs or --steps to extend it)", found.step,
                                     found.state["progress"]["epoch"]), model=model)
    for line in exactness_limits(found.state, built.device):
        log.warning(line)
    result = run_session(built, folder, found.state, quiet=quiet, callbacks=callbacks, resume_step=found.step,
                         new_lr=changes.get("lr"), save_spec=save_spec, tensorboard=tensorboard)
    return Run(folder, result, model=model)


def load_run(run: str | Path, *, runs_dir: str | Path = "runs", model: torch.nn.Module | None = None) -> Run:
    """A finished (or stopped) run, to inspect or predict with."""
    return Run(RunFolder.find(str(run), runs_dir), model=model)
