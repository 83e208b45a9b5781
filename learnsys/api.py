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
from .errors import LearnsysError
from .inference import load_predictor, load_weights
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
    built = build(spec, objects)
    for line in built.warnings:
        log.warning(line)
    check_writable(runs_dir)
    meta = {**built.meta(), "kind": "train", "origin": origin.to_meta(), "data_sha256": data_fingerprint(built)}
    folder = RunFolder.create(runs_dir, spec.run_id or new_run_id(spec.model), built.spec, meta)
    if origin.data == "arrays":
        data = built.data
        torch.save(join_batch(data.x, data.y, data.layout), folder.path / ARRAYS_FILE)
    result = run_session(built, folder, None, quiet=quiet, callbacks=callbacks, tensorboard=tensorboard,
                         checkpoint_at_start=origin.model == "object")
    return Run(folder, result, model=objects.get("model"))


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
