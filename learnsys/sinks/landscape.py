"""Loss landscapes while a run trains: training callbacks over `lectures/landscape.py`.

    LiveLandscape(store_path, run_id)       # the exact surface (1–2 scalars) with the path, live
    SnapshotRecorder(folder, every=10)      # parameter snapshots for the PCA plane of Li et al.
    BackgroundLandscape(runs_dir, run_id)   # `learnsys landscape` after each checkpoint, in a
                                            # niced one-thread process

Each writes where the lecture views read: the run's 'landscape' artifact in the store, or
`landscape_snapshots.pt` in the run folder.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch
from torch import nn

from ..json_floats import finite_json
from ..lectures.grid import evaluate_points
from ..lectures.landscape import SNAPSHOTS_FILE, box_around, exact_landscape, path_from_store, scalar_position
from ..lectures.planes import MAX_PATH_POINTS, stride_indices
from ..models import scalar_names, short_names
from ..store import RunStore
from ..train.callbacks import Callback


class LiveLandscape(Callback):
    """During training of a model with 1–2 trainable scalars: keeps the path from the loop's
    'param/<name>' metric rows and writes the 'landscape' artifact through its own RunStore.

    The exact surface is recomputed (on a copy of the model, on a background thread) only when
    the path leaves the current box; otherwise only the path grows. Writes happen at most every
    `min_interval` seconds. The loop's thread only appends numbers to a list."""

    def __init__(self, store_path: str | Path, run_id: str, *, resolution: int = 41, min_interval: float = 0.5):
        self.store_path, self.run_id = Path(store_path), run_id
        self.resolution, self.min_interval = resolution, min_interval
        self.names: list[str] = []
        self.steps: list[int] = []
        self.points: list[list[float]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.writes = 0
        self.surfaces = 0

    def on_fit_start(self, trainer, logs: dict) -> None:
        names = scalar_names(trainer.model)
        if not 1 <= len(names) <= 2:
            return  # not a model this view draws exactly
        self.names = names
        self._model = copy.deepcopy(trainer.model).cpu()
        self._x, self._y = trainer.x.detach().cpu(), trainer.y.detach().cpu()
        self._loss_fn = trainer.loss_fn
        self._resumed = bool(logs.get("resumed"))
        self._loss_name = "mse" if isinstance(trainer.loss_fn, nn.MSELoss) else type(trainer.loss_fn).__name__
        start = [float(p.reshape(-1)[i]) for n in names for p, i in [scalar_position(self._model, n)]]
        with self._lock:
            if not self.points:
                self.steps.append(int(logs.get("step", 0)))
                self.points.append(start)
        self._store = RunStore(self.store_path)  # opened here, not beside the loop's first steps
        self._thread = threading.Thread(target=self._work, name="learnsys-live-landscape", daemon=True)
        self._thread.start()

    def on_metrics(self, trainer, logs: dict) -> None:
        if not self.names:
            return
        series = logs["batch"].series
        columns = [series.get(f"param/{n}") for n in self.names]
        if any(c is None for c in columns):
            return
        steps = columns[0][0]  # every parameter series of a batch has the same steps
        with self._lock:
            self.steps.extend(steps)
            self.points.extend(map(list, zip(*(values for _, values in columns))))
            if len(self.steps) > 4 * MAX_PATH_POINTS:  # a long run: keep the path bounded, older parts coarser
                last_step, last_point = self.steps[-1], self.points[-1]
                self.steps, self.points = self.steps[::2], self.points[::2]
                if self.steps[-1] != last_step:
                    self.steps.append(last_step)
                    self.points.append(last_point)
        self._wake.set()

    def on_fit_end(self, trainer, logs: dict) -> None:
        if self._thread is not None:
            self._done.set()
            self._wake.set()
            self._thread.join(timeout=30)

    def _work(self) -> None:
        store = self._store
        box: list[tuple[float, float]] | None = None
        surface: dict | None = None
        last = 0.0
        try:
            if self._resumed:  # the path before the resume is in the store already: keep drawing it
                old_steps, old_points = path_from_store(store, self.run_id, self.names, short_names(self._model))
                with self._lock:
                    first = self.steps[0] if self.steps else None
                    keep = [i for i, s in enumerate(old_steps) if first is None or s < first]
                    self.steps[:0] = [old_steps[i] for i in keep]
                    self.points[:0] = old_points[keep].tolist()
            while True:
                self._wake.wait(timeout=self.min_interval)
                self._wake.clear()
                finished = self._done.is_set()
                wait = self.min_interval - (time.monotonic() - last)
                if wait > 0 and not finished:
                    self._done.wait(wait)   # rate limit, but the end of training cuts it short
                    finished = self._done.is_set()
                with self._lock:
                    steps, points = list(self.steps), torch.tensor(self.points, dtype=torch.float64)  # (P, D)
                points = points[torch.isfinite(points).all(1)]
                if len(points):
                    if box is None or not _inside(points, box):
                        new_box = box_around(points)
                        box = new_box if box is None else [(min(a[0], b[0]), max(a[1], b[1]))
                                                           for a, b in zip(box, new_box)]
                        surface = None
                    art = exact_landscape(self._model, self.names, self._x, self._y, self._loss_fn, points,
                                          steps[-len(points):], loss_name=self._loss_name,
                                          resolution=self.resolution, box=box) if surface is None else \
                        self._with_path(surface, points, steps[-len(points):])
                    if surface is None:
                        surface = art
                        self.surfaces += 1
                    art.update(run=self.run_id, step=steps[-1], live=not finished)
                    store.put_artifact(self.run_id, "landscape", art)
                    self.writes += 1
                    last = time.monotonic()
                if finished:
                    return
        except BaseException as e:  # never take the training down; keep the reason for the caller
            self.error = e
        finally:
            if store is not None:
                store.close()

    def _with_path(self, surface: dict, points: torch.Tensor, steps: list[int]) -> dict:
        keep = stride_indices(len(steps), MAX_PATH_POINTS)
        pk = points[keep]                                                   # (K, D)
        loss = evaluate_points(self._model, self.names, pk, self._x, self._y, self._loss_fn,
                               loss_name=self._loss_name)
        return {**surface, "path": {"steps": [steps[i] for i in keep], "x": pk[:, 0].tolist(),
                                    "y": pk[:, 1].tolist() if len(self.names) == 2 else [],
                                    "loss": finite_json(loss.tolist())}}


def _inside(points: torch.Tensor, box: list[tuple[float, float]]) -> bool:
    lo = torch.tensor([b[0] for b in box], dtype=torch.float64)
    hi = torch.tensor([b[1] for b in box], dtype=torch.float64)
    return bool(((points >= lo) & (points <= hi)).all())


class SnapshotRecorder(Callback):
    """Keeps a flat copy of the parameters at most every `every` steps, taken at metric flushes and
    epoch ends (the loop has no per-step event), for the PCA plane of Li et al.,
    and writes them to `<run folder>/landscape_snapshots.pt` at checkpoints and at the end.
    A copy of 10k parameters costs microseconds; nothing else happens on the loop's thread."""

    state_key = None

    def __init__(self, folder: str | Path, every: int = 10, max_snapshots: int = 1000):
        self.path = Path(folder) / SNAPSHOTS_FILE
        self.every, self.max_snapshots = every, max_snapshots
        self.steps: list[int] = []
        self.params: list[torch.Tensor] = []

    def _take(self, trainer, step: int) -> None:
        flat = torch.cat([p.detach().reshape(-1) for p in trainer.model.parameters()]).to("cpu", copy=True)
        self.steps.append(step)
        self.params.append(flat)
        if len(self.params) > self.max_snapshots:  # keep every other one: the whole path, coarser
            self.steps, self.params = self.steps[::2], self.params[::2]
            self.every *= 2

    def on_fit_start(self, trainer, logs: dict) -> None:
        self._take(trainer, int(logs.get("step", 0)))

    def on_metrics(self, trainer, logs: dict) -> None:
        step = trainer.progress.step
        if step - self.steps[-1] >= self.every:
            self._take(trainer, step)

    on_epoch_end = on_metrics  # the loop has no per-step event: snapshots come at flushes and epoch ends

    def on_checkpoint(self, trainer, logs: dict) -> None:
        if logs.get("phase") == "after":
            self.save()

    def on_fit_end(self, trainer, logs: dict) -> None:
        if not self.steps or self.steps[-1] != trainer.progress.step:
            self._take(trainer, trainer.progress.step)
        self.save()

    def save(self) -> None:
        if self.params:
            tmp = self.path.with_suffix(".tmp")
            torch.save({"steps": self.steps, "params": torch.stack(self.params)}, tmp)   # (S, P)
            tmp.replace(self.path)


class BackgroundLandscape(Callback):
    """After each checkpoint, runs `learnsys landscape RUN --threads 1 --nice 19` in its own
    process (unless the previous one is still busy), so big models get their planes while they
    train. The loop only pays for starting a process; the niced process takes the CPU time the
    training leaves. The result lands in the run's 'landscape' artifact like any other."""

    def __init__(self, runs_dir: str | Path, run_id: str, *, resolution: int = 51, threads: int = 1, nice: int = 19):
        self.args = [sys.executable, "-m", "learnsys", "landscape", run_id, "--runs-dir", str(runs_dir),
                     "--resolution", str(resolution), "--threads", str(threads), "--nice", str(nice), "--json"]
        self.process: subprocess.Popen | None = None
        self.started = 0

    def _start(self) -> None:
        self.process = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        self.started += 1

    def on_checkpoint(self, trainer, logs: dict) -> None:
        if logs.get("phase") == "after" and (self.process is None or self.process.poll() is not None):
            self._start()

    def on_fit_end(self, trainer, logs: dict) -> None:
        # the final weights deserve a landscape of their own: replace a run that is still busy
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self._start()
