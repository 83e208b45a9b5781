"""Loss landscapes with the optimiser's path (lectures 2–3; Li et al. 2018 for big models).

Two kinds, both stored as the run's artifact 'landscape' (JSON shape in docs/lectures.md):

  - exact: a model with 1 or 2 trainable scalars. The loss on a grid in parameter
    coordinates around the path, and the path itself (every recorded step), each path point
    with its exact full-data loss. `LiveLandscape` keeps it up to date during training.
  - plane: any model. Li et al., "Visualizing the Loss Landscape of Neural Nets" (2018):
      * a random plane through the final weights θ*, θ* + α·δ + β·η, with each direction
        filter-normalised (every row/filter of δ rescaled to the norm of the same filter
        of θ*; biases and other 1-D parameters zeroed), which makes surfaces of different
        networks comparable;
      * the plane spanned by the first two principal directions of the saved parameter
        snapshots θ_i − θ* (PCA), with the trajectory projected on it: random directions
        are almost orthogonal to the path in high dimension, so the paper projects the path
        on the PCA plane instead. The axes say how much of the path's variance each explains.

    art = landscape_of_run(open_trained(run_id), resolution=51)
    LiveLandscape(store_path, run_id)       # a training callback: the exact surface, live
    SnapshotRecorder(folder, every=10)      # a training callback: snapshots for the PCA plane
    BackgroundLandscape(runs_dir, run_id)   # a training callback: `learnsys landscape` after each
                                            # checkpoint, in a niced one-thread process
"""

from __future__ import annotations

import copy
import math
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call

from .errors import LearnsysError
from .models import scalar_names
from .search import evaluate_points
from .train.callbacks import Callback

MAX_PATH_POINTS = 2000       # the stored path is stride-sampled to at most this many points (first and last kept)
SNAPSHOTS_FILE = "landscape_snapshots.pt"


# -- exact surfaces (1–2 scalars) -------------------------------------------------------------

def box_around(points: torch.Tensor, margin: float = 0.3, min_width: float = 0.5) -> list[tuple[float, float]]:
    """A box around the path (P, D): its extent, widened by `margin` of the width on each side."""
    lo, hi = points.min(0).values, points.max(0).values                    # (D,), (D,)
    width = torch.clamp(hi - lo, min=min_width)
    centre = (lo + hi) / 2
    return [(float(c - w * (0.5 + margin)), float(c + w * (0.5 + margin))) for c, w in zip(centre, width)]


def _stride(n: int, limit: int) -> list[int]:
    if n <= limit:
        return list(range(n))
    idx = torch.linspace(0, n - 1, limit).round().long().unique().tolist()
    return idx


def exact_landscape(model: nn.Module, names: Sequence[str], x: torch.Tensor, y: torch.Tensor, loss_fn: Callable,
                    path: torch.Tensor, steps: Sequence[int], *, loss_name: str = "", resolution: int = 51,
                    box: list[tuple[float, float]] | None = None) -> dict:
    """The exact surface on `box` (default: around the path (P, D)) and the path with its losses."""
    if len(names) not in (1, 2):
        raise LearnsysError(f"An exact landscape needs 1 or 2 scalar parameters, not {len(names)}.")
    box = box or box_around(path)
    axes = [torch.linspace(lo, hi, resolution, dtype=torch.float64) for lo, hi in box]
    if len(names) == 1:
        grid = axes[0][:, None]                                             # (R, 1)
    else:
        gx, gy = torch.meshgrid(axes[0], axes[1], indexing="xy")            # (R_y, R_x) each
        grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)             # (R_y·R_x, 2): rows over y
    losses = evaluate_points(model, names, grid, x, y, loss_fn, loss_name=loss_name)
    keep = _stride(len(steps), MAX_PATH_POINTS)
    path_k = path[keep]                                                     # (K, D)
    path_loss = evaluate_points(model, names, path_k, x, y, loss_fn, loss_name=loss_name)   # (K,)
    surface = losses.tolist() if len(names) == 1 else losses.reshape(resolution, resolution).tolist()
    return {
        "version": 1, "kind": "exact", "params": list(names), "loss": loss_name,
        "axes": [{"name": n, "values": a.tolist()} for n, a in zip(names, axes)],
        "losses": _json(surface),
        "path": {"steps": [steps[i] for i in keep], "x": path_k[:, 0].tolist(),
                 "y": path_k[:, 1].tolist() if len(names) == 2 else [], "loss": _json(path_loss.tolist())},
        "title": "loss landscape and the optimiser's path",
    }


def _json(v):
    if isinstance(v, list):
        return [_json(u) for u in v]
    return v if math.isfinite(v) else None


def path_from_store(store, run_id: str, names: Sequence[str]) -> tuple[list[int], torch.Tensor]:
    """The recorded 'param/<name>' series of a run as (steps, (P, D) values)."""
    series = [store.series(run_id, f"param/{n}") for n in names]
    steps = series[0][0]
    if not steps or any(len(s[0]) != len(steps) for s in series):
        return [], torch.empty(0, len(names), dtype=torch.float64)
    return list(steps), torch.tensor([s[1] for s in series], dtype=torch.float64).T   # (P, D)


# -- Li et al. planes (any model) -------------------------------------------------------------

def filter_normalized_direction(params: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A random direction with each filter (row along dim 0) scaled to the norm of the same filter
    of the weights; 1-D parameters (biases, norm layers) get zeros, as in Li et al. 2018."""
    out = {}
    for name, p in params.items():
        if p.dim() <= 1:
            out[name] = torch.zeros_like(p)
            continue
        d = torch.randn(p.shape, generator=generator, dtype=p.dtype)       # (out, ...)
        d_norm = d.flatten(1).norm(dim=1).clamp_min(1e-12)                  # (out,)
        p_norm = p.flatten(1).norm(dim=1)                                   # (out,)
        out[name] = d * (p_norm / d_norm).view(-1, *[1] * (p.dim() - 1))
    return out


def plane_losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: Callable,
                 centre: dict[str, torch.Tensor], d1: dict[str, torch.Tensor], d2: dict[str, torch.Tensor],
                 alphas: torch.Tensor, betas: torch.Tensor, on_progress: Callable | None = None) -> torch.Tensor:
    """loss(centre + α·d1 + β·d2) for every (α, β): (len(betas), len(alphas)), rows over β."""
    out = torch.empty(len(betas), len(alphas), dtype=torch.float64)
    model.eval()
    with torch.no_grad():
        for j, b in enumerate(betas.tolist()):
            for i, a in enumerate(alphas.tolist()):
                params = {k: centre[k] + a * d1[k] + b * d2[k] for k in centre}
                out[j, i] = float(loss_fn(functional_call(model, params, (x,)), y))
            if on_progress:
                on_progress(j + 1, len(betas))
    return out


def pca_plane(snapshots: torch.Tensor, final: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[float], torch.Tensor]:
    """First two principal directions of the snapshots (S, P) around the final weights (P,):
    (v1 (P,), v2 (P,), explained variance ratios, the snapshots' coordinates (S, 2))."""
    m = (snapshots - final).double()                                        # (S, P)
    _, s, vh = torch.linalg.svd(m, full_matrices=False)                     # vh: (min(S,P), P)
    v1 = vh[0]
    v2 = vh[1] if vh.shape[0] > 1 else torch.zeros_like(v1)
    var = s ** 2
    ratios = (var[:2] / var.sum().clamp_min(1e-300)).tolist() + [0.0] * (2 - min(2, len(var)))
    coords = torch.stack([m @ v1, m @ v2], 1)                               # (S, 2)
    return v1, v2, ratios[:2], coords


def _unflatten(flat: torch.Tensor, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out, start = {}, 0
    for k, p in like.items():
        out[k] = flat[start:start + p.numel()].view_as(p).to(p.dtype)
        start += p.numel()
    return out


def plane_landscapes(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: Callable, *,
                     snapshots: torch.Tensor | None = None, snapshot_steps: Sequence[int] = (),
                     resolution: int = 51, span: float = 1.0, seed: int = 0, loss_name: str = "",
                     on_progress: Callable | None = None) -> dict:
    """The filter-normalised random plane and, with >= 2 snapshots, the PCA plane with the path."""
    centre = {k: v.detach().clone() for k, v in model.named_parameters()}
    g = torch.Generator().manual_seed(seed)
    d1, d2 = filter_normalized_direction(centre, g), filter_normalized_direction(centre, g)
    ab = torch.linspace(-span, span, resolution, dtype=torch.float64)
    random_plane = plane_losses(model, x, y, loss_fn, centre, d1, d2, ab, ab, on_progress)
    out = {"version": 1, "kind": "plane", "params": [], "loss": loss_name,
           "n_parameters": sum(p.numel() for p in centre.values()),
           "axes": [{"name": "α", "label": "α (filter-normalised direction 1)", "values": ab.tolist()},
                    {"name": "β", "label": "β (filter-normalised direction 2)", "values": ab.tolist()}],
           "losses": _json(random_plane.tolist()), "path": {},
           "title": "loss on a filter-normalised random plane through the final weights (Li et al. 2018)"}
    if snapshots is not None and snapshots.shape[0] >= 2:
        final = torch.cat([p.reshape(-1) for p in centre.values()]).double()    # (P,)
        v1, v2, ratios, coords = pca_plane(snapshots, final)
        lo, hi = coords.min(0).values, coords.max(0).values                     # (2,), (2,)
        width = (hi - lo).clamp_min(1e-3 * max(1.0, float(final.norm())))
        a_axis = torch.linspace(float(lo[0] - 0.3 * width[0]), float(hi[0] + 0.3 * width[0]), resolution,
                                dtype=torch.float64)
        b_axis = torch.linspace(float(lo[1] - 0.3 * width[1]), float(hi[1] + 0.3 * width[1]), resolution,
                                dtype=torch.float64)
        pca = plane_losses(model, x, y, loss_fn, centre, _unflatten(v1, centre), _unflatten(v2, centre),
                           a_axis, b_axis, on_progress)
        keep = _stride(coords.shape[0], MAX_PATH_POINTS)
        out["pca"] = {
            "axes": [{"name": "pc1", "label": f"PC1 ({100 * ratios[0]:.1f}% of the path's variance)",
                      "values": a_axis.tolist()},
                     {"name": "pc2", "label": f"PC2 ({100 * ratios[1]:.1f}%)", "values": b_axis.tolist()}],
            "losses": _json(pca.tolist()), "explained": ratios,
            "path": {"steps": [snapshot_steps[i] for i in keep] if snapshot_steps else keep,
                     "x": coords[keep, 0].tolist(), "y": coords[keep, 1].tolist()},
            "title": "loss on the PCA plane of the trajectory, with the path projected (Li et al. 2018)"}
    return out


# -- a trained run ----------------------------------------------------------------------------

def landscape_of_run(t, resolution: int = 51, on_progress: Callable | None = None) -> dict:
    """The landscape of a trained run (`trained.open_trained`): exact for 1–2 scalars, else planes."""
    from .store import RunStore

    names = [n for n in scalar_names(t.model)]
    if 1 <= len(names) <= 2:
        store = RunStore(t.store_path, readonly=True)
        try:
            steps, path = path_from_store(store, t.run_id, names)
        finally:
            store.close()
        start_model = copy.deepcopy(t.model)
        start_model.load_state_dict(t.initial)
        start = torch.tensor([[float(p.reshape(-1)[i]) for n in names for p, i in [_scalar(start_model, n)]]],
                             dtype=torch.float64)                           # (1, D)
        if not steps or steps[0] == 1:  # the recorded path starts after the first step: add where it began
            steps, path = [0, *steps], torch.cat([start, path])
        art = exact_landscape(t.model, names, t.x, t.y, t.loss_fn, path, steps, loss_name=t.loss_name,
                              resolution=resolution)
    else:
        snaps, snap_steps = load_snapshots(Path(t.folder))
        art = plane_landscapes(t.model, t.x, t.y, t.loss_fn, snapshots=snaps, snapshot_steps=snap_steps,
                               resolution=resolution, seed=getattr(t.spec, "seed", 0), loss_name=t.loss_name,
                               on_progress=on_progress)
    art.update(run=t.run_id, step=t.step, live=False)
    return art


def _scalar(model: nn.Module, name: str) -> tuple[torch.Tensor, int]:
    """(parameter tensor, flat index) of a scalar name from `scalar_names`."""
    params = dict(model.named_parameters())
    if name in params:
        return params[name].detach(), 0
    pname, _, idx = name.partition("[")
    p = params[pname].detach()
    index = [int(i) for i in idx.rstrip("]").split(",")]
    flat = 0
    for i, s in zip(index, p.shape):
        flat = flat * s + i
    return p, flat


def load_snapshots(folder: Path) -> tuple[torch.Tensor | None, list[int]]:
    """Snapshots saved by `SnapshotRecorder` (S, P), else none."""
    path = Path(folder) / SNAPSHOTS_FILE
    if not path.exists():
        return None, []
    state = torch.load(path, weights_only=True)
    return state["params"], list(state["steps"])


# -- callbacks --------------------------------------------------------------------------------

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
        start = [float(p.reshape(-1)[i]) for n in names for p, i in [_scalar(self._model, n)]]
        with self._lock:
            if not self.points:
                self.steps.append(int(logs.get("step", 0)))
                self.points.append(start)
        from .store import RunStore

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
                old_steps, old_points = path_from_store(store, self.run_id, self.names)
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
        keep = _stride(len(steps), MAX_PATH_POINTS)
        pk = points[keep]                                                   # (K, D)
        loss = evaluate_points(self._model, self.names, pk, self._x, self._y, self._loss_fn,
                               loss_name=self._loss_name)
        return {**surface, "path": {"steps": [steps[i] for i in keep], "x": pk[:, 0].tolist(),
                                    "y": pk[:, 1].tolist() if len(self.names) == 2 else [],
                                    "loss": _json(loss.tolist())}}


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
