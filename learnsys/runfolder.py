"""Run folders: `<runs-dir>/<run-id>/` with spec.toml, meta.json, log.txt and checkpoints/.

    folder = RunFolder.create(runs_dir, run_id, spec, meta)   # all or nothing
    folder = RunFolder.find("20261127-120000-linear-1a2b", runs_dir="runs")  # id or path
    folder.mark_running(); ...; folder.clear_running()       # `pid` while a process trains it

The `pid` file says which process trains the run right now. A run whose store status is
'running' but whose process is gone was killed (kill -9, power loss): `store.live_status`
reports it as 'interrupted', and `resume` refuses to start while the process still lives.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import time
from pathlib import Path
from typing import Iterable

from .errors import LearnsysError, ModelError
from .origin import PARTS, Origin
from .spec import RunSpec
from .store import PID_FILENAME, STORE_FILENAME, RunStore, check_run_id, training_pid


def new_run_id(label: str) -> str:
    """`20261127-120000-<label>-1a2b`: sortable by time, readable, unique. The label is a model
    name (`poly-2`), a user model's file stem, or a kind and model (`search-linear-nobias`)."""
    if label.endswith(".py") or ".py:" in label:
        label = Path(label.split(".py:")[0]).stem
    short = re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-")[:32]
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{short or 'run'}-{secrets.token_hex(2)}"


def check_writable(runs_dir: Path) -> None:
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LearnsysError(f"Cannot create the runs dir {runs_dir}: {e.strerror}. Pass a writable --runs-dir.") from None
    if not os.access(runs_dir, os.W_OK | os.X_OK):
        raise LearnsysError(f"The runs dir {runs_dir} is not writable. Pass a writable --runs-dir.")


class RunFolder:
    def __init__(self, path: Path):
        self.path = path
        self.run_id = path.name

    @property
    def runs_dir(self) -> Path:
        return self.path.parent

    @property
    def store_path(self) -> Path:
        return self.runs_dir / STORE_FILENAME

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def log_path(self) -> Path:
        return self.path / "log.txt"

    @classmethod
    def create(cls, runs_dir: Path, run_id: str, spec: RunSpec, meta: dict) -> "RunFolder":
        """The run's folder (spec.toml, meta.json, checkpoints/) and its row in the store, with a
        'start' event; `meta["kind"]` is 'train' or 'search'."""
        check_run_id(run_id)
        path = runs_dir / run_id
        if path.exists():
            raise LearnsysError(f"Run folder {path} already exists. Choose another --run-id, or resume it with "
                                f"`learnsys resume {run_id}`.")
        try:
            (path / "checkpoints").mkdir(parents=True)
            spec.save(path / "spec.toml")
            (path / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        except OSError as e:
            shutil.rmtree(path, ignore_errors=True)
            raise LearnsysError(f"Cannot create run folder {path}: {e.strerror}. Check the runs dir.") from None
        folder = cls(path)
        kind = meta.get("kind", "train")
        store = RunStore(folder.store_path)
        try:
            store.create_run(run_id, kind=kind, spec=spec.to_dict(), folder=str(path.resolve()), data=spec.data,
                             model=spec.model, total_steps=None)
            store.add_event(run_id, 0, "start", f"Run created: {spec.model} on {spec.data}.")
        finally:
            store.close()
        return folder

    @classmethod
    def find(cls, run: str, runs_dir: str | Path = "runs") -> "RunFolder":
        """A run by id (a folder under runs_dir) or by the path of its folder."""
        candidate = Path(run)
        if os.sep in run or run.startswith("."):
            path = candidate
        else:
            check_run_id(run)
            path = Path(runs_dir) / run
        if not (path / "spec.toml").is_file():
            where = path if path == candidate else f"{runs_dir}"
            raise LearnsysError(f"No run {run!r} in {where}: no spec.toml there. `learnsys runs --runs-dir "
                                f"{runs_dir}` lists the runs.")
        return cls(path)

    def spec(self) -> RunSpec:
        return RunSpec.load(self.path / "spec.toml")

    def meta(self) -> dict:
        try:
            return json.loads((self.path / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise LearnsysError(f"Run folder {self.path} has no readable meta.json ({e}); it is damaged.") from None

    # -- which process trains the run -----------------------------------------------------

    @property
    def pid_path(self) -> Path:
        return self.path / PID_FILENAME

    def mark_running(self) -> None:
        self.pid_path.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                             "started": time.time()}), encoding="utf-8")

    def clear_running(self) -> None:
        self.pid_path.unlink(missing_ok=True)

    def training_pid(self) -> int | None:
        """The pid of a live process on this machine that trains this run, else None."""
        return training_pid(self.path)

    # -- what the run is and what it was built from ---------------------------------------

    def kind(self) -> str:
        """'train' for a run made by `learnsys train` (or `fit`), 'search' for a lecture-2 search."""
        return str(self.meta().get("kind", "train"))

    def origin(self) -> Origin:
        return Origin.from_meta(self.meta(), self.spec())

    def rebuild_spec(self, *, given: Iterable[str] = (), hint: str, needs: Iterable[str] = PARTS) -> RunSpec:
        """The spec from which this run's parts are built again (resume, predict, the lecture
        views): arrays given from Python come from the run folder. Parts that were Python objects
        have no name to rebuild them from; unless those the caller `needs` are `given` again, one
        line says which and how to pass them (`hint`)."""
        spec, meta = self.spec(), self.meta()
        origin = Origin.from_meta(meta, spec)
        missing = [p for p in origin.objects() if p in set(needs) and p not in set(given)]
        if missing:
            what = ", ".join(f"{p} {origin.types[p]}" if p in origin.types else p for p in missing)
            raise ModelError(f"Run {self.run_id} was built from Python objects ({what}); {hint}.")
        if origin.data == "arrays":
            spec = spec.replace(data=str(self.path / origin.arrays_file(meta)))
        return spec
