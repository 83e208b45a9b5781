"""The Python face of learnsys: `fit`, `train`, `resume`, `load_run` and `Run`.

    run = learnsys.fit("linear", "lecture5", lr=0.01, epochs=1000)
    run.params()["linear.weight"], run.predict([[4.0], [5.0]])
    run = learnsys.resume(run.run_id)                 # after a crash or Ctrl-C
    run = learnsys.load_run("runs/<id>")              # inspect or predict later

Thin by design: `assembly` and `train/build.py` make the parts, `train/resume.py` decides
what a resume may do, `session.py` wires the sinks and runs the loop, the store sink records.
Warnings go to the stdlib logger `learnsys` (the CLI prints them as `warning: ...`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import torch

from .assembly import spec_and_objects
from .data import LazyData, as_data
from .early_stop import EarlyStopping
from .errors import LearnsysError, SpecError, StoreError
from .json_floats import finite_json
from .origin import ARRAYS_FILE, Origin
from .run import Run
from .runfolder import RunFolder, check_writable, new_run_id
from .session import run_session
from .spec import RunSpec
from .steps import join_batch
from .store import RunStore
from .sinks.tensorboard import require_tensorboard
from .train.build import build
from .train.distributed import Distributed
from .train.callbacks import Callback
from .train.checkpoint import Checkpointer
from .train.loop import FitResult
from .train.lr_find import LrFindResult, lr_range_test
from .train.plan import plan_steps
from .train.resume import allowed_changes, check_same_data, data_fingerprint, exactness_limits

log = logging.getLogger("learnsys")


# -- training ----------------------------------------------------------------------------

def fit(model: str | torch.nn.Module = "linear", data: Any = "lecture5", *, runs_dir: str | Path = "runs",
        quiet: bool | None = None, callbacks: Sequence[Callback] = (), dashboard: str | None = None,
        **spec_fields: Any) -> Run:
    """Train a model (a name or an nn.Module) on data (a name or path, arrays (x, y), a dict of
    tensors, or a torch Dataset). `spec_fields` are RunSpec fields (lr, epochs, batch_size, ...);
    loss, optimizer, scheduler and step may also be objects (docs/data.md). `quiet`: no progress
    bar (default: shown in a notebook, hidden elsewhere); `dashboard="inline"`: in a notebook,
    the live dashboard of this run above the progress bar (docs/notebooks.md)."""
    from .notebook import in_notebook, show

    spec, objects, origin = spec_and_objects(model, data, spec_fields)
    if dashboard not in (None, "inline"):
        raise SpecError(f"dashboard = {dashboard!r}: give 'inline' (a notebook) or leave it out.")
    if dashboard == "inline":
        if not spec.run_id:
            spec = spec.replace(run_id=new_run_id(spec.model))
        from IPython.display import display

        display(show(spec.run_id, runs_dir=runs_dir))
    quiet = not in_notebook() if quiet is None else quiet
    return train(spec, runs_dir=runs_dir, quiet=quiet, callbacks=callbacks, objects=objects, origin=origin)


def train(spec: RunSpec, *, runs_dir: str | Path = "runs", quiet: bool = True, callbacks: Sequence[Callback] = (),
          objects: dict | None = None, origin: Origin | None = None, tensorboard: str | Path | None = None) -> Run:
    """Create a run folder for `spec` and train it. Everything is checked before anything is written.
    `objects`: parts given from Python (`assembly.spec_and_objects`); `tensorboard`: also write
    TensorBoard event files under this folder. Under torchrun every rank calls it; rank 0 alone
    makes the folder and writes (docs/distributed.md)."""
    runs_dir = Path(runs_dir)
    objects = objects or {}
    origin = origin or Origin.of(spec, objects=objects, data_given=_data_given(objects.get("data")))
    if tensorboard is not None:
        require_tensorboard()  # an optional package: checked before the run exists
    dist = Distributed.from_env()
    finder = None
    if spec.lr == "auto":  # the LR range test on a copy, then the run with its suggestion
        if dist is not None:
            raise SpecError("--lr auto runs the LR range test in one process; run `learnsys lr-find` first and give "
                            "the distributed run its suggestion with --lr.")
        finder = lr_range_test(build(spec.replace(lr=1e-3), objects))
        log.warning(f"--lr auto: the LR range test suggests lr = {finder.suggestion:.3g} ({finder.rule}); "
                    "training with it.")
        spec = spec.replace(lr=finder.suggestion)
    if dist is not None:  # every rank trains the run rank 0 names
        spec = dist.share(lambda: spec.replace(run_id=spec.run_id or new_run_id(spec.model)))
    built = build(spec, objects, dist)
    for line in built.warnings:
        log.warning(line)

    def create() -> str:
        check_writable(runs_dir)
        meta = {**built.meta(), "kind": "train", "origin": origin.to_meta(), "data_sha256": data_fingerprint(built),
                "world_size": 1 if dist is None else dist.world}
        if finder is not None:
            meta["lr_find"] = {"suggestion": finder.suggestion, "rule": finder.rule}
        data = built.data

        def save_arrays(tmp: Path) -> None:  # arrays from Python live in the folder (made in the same step)
            torch.save(join_batch(data.x, data.y, data.layout), tmp / ARRAYS_FILE)

        folder = RunFolder.create(runs_dir, spec.run_id or new_run_id(spec.model), built.spec, meta,
                                  fill=save_arrays if origin.data == "arrays" else None)
        if finder is not None:
            _put_artifact(folder, "lr_find", finder.artifact())
        return str(folder.path)

    path = Path(create() if dist is None else dist.share(create))
    main = dist is None or dist.is_main
    result = run_session(built, RunFolder(path) if main else None, None, quiet=quiet, callbacks=callbacks,
                         tensorboard=tensorboard, checkpoint_at_start=origin.model == "object")
    if dist is not None:
        dist.close(built)
    return Run(RunFolder(path), result, model=objects.get("model"))


def lr_find(model: str | torch.nn.Module = "linear", data: Any = "lecture5", *, runs_dir: str | Path = "runs",
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
    Parts that were given as Python objects (model, data, loss, ...) are given again here. Under
    torchrun rank 0 reads the folder and gives every rank the spec and the state."""
    objects = _objects(model, data, loss=loss, optimizer=optimizer, scheduler=scheduler, step=step)
    dist = Distributed.from_env()
    plan = _plan_resume(str(run), runs_dir, changes or {}, objects, 1 if dist is None else dist.world)
    if dist is not None:
        plan = dist.share(lambda: plan)
    folder = RunFolder(Path(plan["folder"]))
    if plan.get("finished") is not None:
        if dist is None or dist.is_main:
            _settle_finished(folder, plan["finished"])
        return Run(folder, plan["finished"], model=model)
    spec = RunSpec.from_dict(plan["spec"], where=f"run {folder.run_id}")
    built = build(spec, objects, dist)
    main = dist is None or dist.is_main

    def check() -> None:
        check_same_data(folder.run_id, built, folder.meta().get("data_sha256"))
        for line in exactness_limits(plan["state"] or {}, built.device):
            log.warning(line)

    check() if dist is None else dist.share(check)
    save_spec = RunSpec.from_dict(plan["save_spec"], where="the changed fields") if plan["save_spec"] else None
    result = run_session(built, folder if main else None, plan["state"], quiet=quiet, callbacks=callbacks,
                         resume_step=plan["step"], new_lr=plan["new_lr"], save_spec=save_spec, tensorboard=tensorboard)
    if dist is not None:
        dist.close(built)
    return Run(folder, result, model=model)


def _settle_finished(folder: RunFolder, result: FitResult) -> None:
    """A run whose newest checkpoint is its end is finished, whatever its row says: a kill or a
    Ctrl-C that landed after that checkpoint and before the row was written left it 'running' or
    'stopped'. The row is corrected (with an 'end' event) under the run's lock; a finished row
    is not touched."""
    reader = RunStore(folder.store_path, readonly=True)
    try:
        if reader.run(folder.run_id)["status"] == "finished":
            return
    except StoreError:
        pass  # no row, or a damaged one: update_run below gives it its row from the folder
    finally:
        reader.close()
    store = RunStore(folder.store_path)
    try:
        reason = f"reached step {result.step}"   # the words of the loop's own end
        with folder.lock():  # a missing row is rebuilt from the folder by update_run
            store.update_run(folder.run_id, status="finished", step=result.step, epoch=result.epoch, message=reason)
            store.add_event(folder.run_id, result.step, "end", f"Run {result.status}: {reason}.")
    finally:
        store.close()


def _plan_resume(run: str, runs_dir: str | Path, changes: dict, objects: dict, world: int) -> dict:
    """What a resume needs, read and checked on one process (rank 0): the spec to build, the state
    to start from (None: from the start), its step, the changes; or the result when there is
    nothing to resume. Plain data, so it can be sent to the other ranks."""
    folder = RunFolder.find(run, runs_dir)
    if folder.kind() != "train":
        raise LearnsysError(f"Run {folder.run_id} is a {folder.kind()} run; only runs made by `learnsys train` "
                            "can be resumed.")
    saved = folder.rebuild_spec(given=objects, hint="pass them again: learnsys.resume(RUN, model=..., "
                                                    "optimizer=..., ...) with the same objects")
    changes = allowed_changes(folder.run_id, folder.spec(), changes)
    pid = folder.training_pid()
    if pid is not None:
        raise LearnsysError(f"Run {folder.run_id} is still being trained by process {pid}; stop it first "
                            f"(Ctrl-C there, or `kill {pid}`), then resume. Nothing was changed.")
    spec = saved.replace(**changes) if changes else saved
    checkpointer = Checkpointer(folder.checkpoints)
    found, warnings = checkpointer.latest()
    for line in warnings:
        log.warning(line)
    plan = {"folder": str(folder.path), "spec": spec.to_dict(), "new_lr": changes.get("lr"), "finished": None,
            "save_spec": folder.spec().replace(**changes).to_dict() if changes else None, "state": None, "step": 0}
    trained = (found.state.get("world_size", 1) if found is not None else folder.meta().get("world_size", 1))
    if trained != world:
        raise SpecError(f"Run {folder.run_id} was trained by {trained} process(es) and is resumed by {world}: each "
                        "process's shard of the data and its RNG state are in the checkpoint, so resume it with the "
                        f"same number (torchrun --nproc-per-node ... for a world size of {trained}).")
    if found is None:
        if checkpointer.candidates()[0]:
            raise LearnsysError(f"Run {folder.run_id} has no usable checkpoint in {folder.checkpoints}; nothing was "
                                "changed. Start it again with `learnsys train`.")
        # killed before its first checkpoint: building it again is its state at step 0
        log.warning(f"Run {folder.run_id} has no checkpoint yet (it was stopped before its first); starting it at "
                    "step 0.")
        return plan
    early = EarlyStopping.parse(spec.early_stop)
    epoch = found.state["progress"]["epoch"]
    if early is not None and found.state.get("early_stop"):
        early.load_state_dict(found.state["early_stop"])
        if early.waited >= early.patience:
            plan["finished"] = FitResult("finished", f"already finished at step {found.step} by early stopping "
                                         f"({spec.early_stop}); nothing to resume", found.step, epoch)
            return plan
    total_steps = plan_steps(spec, folder.meta().get("train_rows", 0) or 1).total_steps
    if found.step >= total_steps:
        plan["finished"] = FitResult("finished", f"already finished at step {found.step} of {total_steps}; nothing "
                                     "to resume (pass --epochs or --steps to extend it)", found.step, epoch)
        return plan
    plan.update(state=found.state, step=found.step)
    return plan


def load_run(run: str | Path, *, runs_dir: str | Path = "runs", model: torch.nn.Module | None = None) -> Run:
    """A finished (or stopped) run, to inspect or predict with."""
    return Run(RunFolder.find(str(run), runs_dir), model=model)
