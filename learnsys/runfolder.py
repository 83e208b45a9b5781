"""Run folders: `<runs-dir>/<run-id>/` with spec.toml, meta.json, log.txt and checkpoints/.

    folder = RunFolder.create(runs_dir, run_id, spec, meta)   # folder + store row: both or neither
    folder = RunFolder.find("20261127-120000-linear-1a2b", runs_dir="runs")  # id or path
    with folder.lock(): ...train...                           # one writer per run

Creating a run is one step. The folder is built under a hidden temporary name, then, inside
the store transaction that inserts its row and 'start' event, renamed into place: a rename
is atomic, and two processes creating the same id get one winner and one clear refusal (the
loser removes only the temporary folder it made). A kill leaves either nothing (a hidden
`.new-*` folder that `learnsys doctor` removes) or the whole run; in the one case the kernel
can make in between (killed after the rename, before the commit) the folder is the source of
truth and the store rebuilds the row from it the first time it is written.

While a process trains a run it holds the folder's OS lock (store/lock.py): a second
`train`/`resume` is refused with the holder's pid, and a 'running' run nobody holds was killed
('interrupted').
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .errors import LearnsysError, ModelError, RunIdError, StoreError
from .origin import PARTS, Origin
from .spec import RunSpec
from .store import STORE_FILENAME, RunLock, RunStore, check_run_id, training_pid
from .store.names import NEW_FOLDER_PREFIX


def new_run_id(label: str) -> str:
    """`20261127-120000-<label>-1a2b`: sortable by time, readable, unique. The label is a model
    name (`poly-2`), a user model's file stem, or a kind and model (`search-linear-nobias`)."""
    if label.endswith(".py") or ".py:" in label:
        label = Path(label.split(".py:")[0]).stem
    short = re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-")[:32]
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{short or 'run'}-{secrets.token_hex(2)}"


def check_writable(runs_dir: Path) -> None:
    """The runs dir exists and can be written, else one line (exit 2: the --runs-dir given is wrong)."""
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LearnsysError(f"Cannot create the runs dir {runs_dir}: {e.strerror}. Pass a writable --runs-dir.") \
            from None
    if not os.access(runs_dir, os.W_OK | os.X_OK):
        raise LearnsysError(f"The runs dir {runs_dir} is not writable. Pass a writable --runs-dir.")


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGINT/SIGTERM that arrive inside the block take effect after it (main thread only):
    a Ctrl-C cannot land between a run's folder appearing and its row being committed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda signum, _frame: pending.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        for sig in pending:
            signal.raise_signal(sig)


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
    def create(cls, runs_dir: Path, run_id: str, spec: RunSpec, meta: dict, *,
               fill: Callable[[Path], None] | None = None) -> "RunFolder":
        """Make a run in one step: its folder (spec.toml, meta.json, checkpoints/ and whatever
        `fill(folder)` writes) and its store row with a 'start' event, or nothing;
        `meta["kind"]` is 'train', 'search' or 'lr-find'."""
        check_run_id(run_id)
        path = runs_dir / run_id
        if path.exists():
            raise RunIdError(f"Run folder {path} already exists. Choose another --run-id, or resume it with "
                             f"`learnsys resume {run_id}`.")
        store = RunStore(runs_dir / STORE_FILENAME)  # first: a read-only or full store fails before anything exists
        tmp = runs_dir / f"{NEW_FOLDER_PREFIX}{run_id}.{os.getpid()}.{secrets.token_hex(3)}"
        placed = False

        def place() -> None:
            nonlocal placed
            try:
                os.rename(tmp, path)  # atomic; refused when another process's folder is already there
            except OSError:
                if path.exists():
                    raise RunIdError(f"Run folder {path} already exists (another process created it just now). "
                                     "Choose another --run-id.") from None
                raise
            placed = True

        committed = False
        try:
            (tmp / "checkpoints").mkdir(parents=True)
            spec.save(tmp / "spec.toml")
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
            if fill is not None:
                fill(tmp)
            with _signals_deferred():
                row = spec.to_dict() | ({"params": meta["params"]} if "params" in meta else {})  # a search's axes
                store.create_run(run_id, kind=meta.get("kind", "train"), spec=row, folder=str(path.resolve()),
                                 data=spec.data, model=spec.model, event=f"Run created: {spec.model} on {spec.data}.",
                                 before_commit=place)
                committed = True
        except BaseException as e:
            if not committed:
                if placed:  # the row did not commit: take back the folder this process just placed
                    with contextlib.suppress(OSError):
                        os.rename(path, tmp)
                shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(e, OSError):
                raise StoreError(f"Cannot create run folder {path}: {e.strerror or e}. Check the runs dir (free "
                                 "space, permissions); nothing was left behind.") from None
            raise
        finally:
            store.close()
        return cls(path)

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

    def lock(self) -> RunLock:
        """The run's exclusive lock, to hold for as long as this process trains it:
        `with folder.lock(): ...`; RunInUseError names the pid of a process that holds it."""
        return RunLock(self.path)

    def training_pid(self) -> int | None:
        """The pid of the process that holds this run's lock (trains it), else None."""
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
