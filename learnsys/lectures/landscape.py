"""Loss landscapes with the optimiser's path (lectures 2–3; Li et al. 2018 for bigger models).

Stored as the run's artifact 'landscape' (JSON shape in docs/lectures.md):

  - exact: the loss on a grid in parameter coordinates around the path, and the path itself
    (every recorded step), each path point with its full-data loss. A model with 1 or 2
    scalars gets it by default (`LiveLandscape` keeps it up to date during training); any
    model gets it over 1 or 2 chosen scalars (`params=["w1", "w2"]`, `landscape RUN --params
    w1 w2`), a slice with every other parameter at its final value; the path's losses are
    then the training's own (every parameter at that step's values), not the slice's.
  - plane: the random and the PCA plane of Li et al. (`planes.py`). A model with 3–16
    scalars has every step of its path recorded, so its PCA plane is that of the whole path.

    art = landscape_of_run(open_trained(run_id), resolution=51)
    art = landscape_of_run(open_trained(run_id), params=["w1", "w2"])

The training callbacks that draw landscapes while a run trains (the exact surface live, the
snapshots for the PCA plane, `learnsys landscape` in the background) are sinks:
`learnsys/sinks/landscape.py`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from ..errors import LearnsysError
from ..json_floats import finite_json
from ..models import flat_index, resolve_names, scalar_names, short_names
from .grid import evaluate_points
from .planes import MAX_PATH_POINTS, plane_landscapes, stride_indices

SNAPSHOTS_FILE = "landscape_snapshots.pt"


# -- exact surfaces (1–2 scalars) -------------------------------------------------------------

def box_around(points: torch.Tensor, margin: float = 0.3, min_width: float = 0.5) -> list[tuple[float, float]]:
    """A box around the path (P, D): its extent, widened by `margin` of the width on each side."""
    lo, hi = points.min(0).values, points.max(0).values                    # (D,), (D,)
    width = torch.clamp(hi - lo, min=min_width)
    centre = (lo + hi) / 2
    return [(float(c - w * (0.5 + margin)), float(c + w * (0.5 + margin))) for c, w in zip(centre, width)]


def exact_landscape(model: nn.Module, names: Sequence[str], x: torch.Tensor, y: torch.Tensor, loss_fn: Callable,
                    path: torch.Tensor, steps: Sequence[int], *, loss_name: str = "", resolution: int = 51,
                    box: list[tuple[float, float]] | None = None, path_loss: torch.Tensor | None = None) -> dict:
    """The exact surface on `box` (default: around the path (P, D)) and the path with its losses
    (`path_loss` (P,): given, e.g. the training's own when the surface is a slice)."""
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
    keep = stride_indices(len(steps), MAX_PATH_POINTS)
    path_k = path[keep]                                                     # (K, D)
    path_loss = evaluate_points(model, names, path_k, x, y, loss_fn, loss_name=loss_name) \
        if path_loss is None else path_loss[keep]                           # (K,)
    surface = losses.tolist() if len(names) == 1 else losses.reshape(resolution, resolution).tolist()
    return {
        "version": 1, "kind": "exact", "params": list(names), "loss": loss_name,
        "axes": [{"name": n, "values": a.tolist()} for n, a in zip(names, axes)],
        "losses": finite_json(surface),
        "path": {"steps": [steps[i] for i in keep], "x": path_k[:, 0].tolist(),
                 "y": path_k[:, 1].tolist() if len(names) == 2 else [], "loss": finite_json(path_loss.tolist())},
        "title": "loss landscape and the optimiser's path",
    }


def path_from_store(store, run_id: str, names: Sequence[str], long_names: dict[str, str] | None = None
                    ) -> tuple[list[int], torch.Tensor]:
    """The recorded 'param/<name>' series of a run as (steps, (P, D) values). `long_names`
    ({'w': 'linear.weight'}) reads runs recorded before `w`/`b` named lecture 5's scalars."""
    series = [store.series(run_id, f"param/{n}") for n in names]
    series = [s if s[0] or n not in (long_names or {}) else store.series(run_id, f"param/{long_names[n]}")
              for n, s in zip(names, series)]
    steps = series[0][0]
    if not steps or any(len(s[0]) != len(steps) for s in series):
        return [], torch.empty(0, len(names), dtype=torch.float64)
    return list(steps), torch.tensor([s[1] for s in series], dtype=torch.float64).T   # (P, D)


# -- a trained run ----------------------------------------------------------------------------

def recorded_path(t, names: Sequence[str]) -> tuple[list[int], torch.Tensor]:
    """Every recorded step of a run's scalars `names` (all of them, in `scalar_names` order) as
    (steps, (P, D)), starting from the parameters before training (step 0)."""
    from ..store import RunStore

    store = RunStore(t.store_path, readonly=True)
    try:
        steps, path = path_from_store(store, t.run_id, names, short_names(t.model))
    finally:
        store.close()
    start_model = copy.deepcopy(t.model)
    start_model.load_state_dict(t.initial)
    start = torch.cat([p.detach().reshape(-1) for p in start_model.parameters()]).double()[None]   # (1, D)
    if not steps or steps[0] == 1:  # the recorded path starts after the first step: add where it began
        steps, path = [0, *steps], torch.cat([start, path])
    return steps, path


def landscape_of_run(t, resolution: int = 51, on_progress: Callable | None = None,
                     params: Sequence[str] = ()) -> dict:
    """The landscape of a trained run (`trained.open_trained`): exact over `params` (1 or 2
    scalar names) or over the model's 1–2 scalars, else the planes."""
    names = scalar_names(t.model)
    steps, path = recorded_path(t, names) if names else ([], None)
    if params:
        art = slice_of_run(t, params, names, steps, path, resolution)
    elif 1 <= len(names) <= 2:
        art = exact_landscape(t.model, names, t.x, t.y, t.loss_fn, path, steps, loss_name=t.loss_name,
                              resolution=resolution)
    else:
        losses = None
        if names:  # 3–16 scalars: the whole recorded path is the snapshots, each with its training loss
            keep = stride_indices(len(steps), MAX_PATH_POINTS)
            steps, path = [steps[i] for i in keep], path[keep]
            losses = evaluate_points(t.model, names, path, t.x, t.y, t.loss_fn, loss_name=t.loss_name).tolist()
        else:
            path, steps = load_snapshots(Path(t.folder))
        art = plane_landscapes(t.model, t.x, t.y, t.loss_fn, snapshots=path, snapshot_steps=steps,
                               snapshot_losses=losses, resolution=resolution, seed=getattr(t.spec, "seed", 0),
                               loss_name=t.loss_name, on_progress=on_progress)
        if names:
            art["scalars"] = names
    art.update(run=t.run_id, step=t.step, live=False)
    return art


def slice_of_run(t, params: Sequence[str], names: list[str], steps: list[int], path: torch.Tensor | None,
                 resolution: int) -> dict:
    """The exact loss over 1 or 2 chosen scalars, every other parameter at its final value; the path
    (when the run recorded one: <= 16 scalars) with the training's loss at each of its points."""
    refs = resolve_names(t.model, params, what="landscape --params", error=LearnsysError)
    if len(refs) not in (1, 2):
        raise LearnsysError(f"--params takes 1 or 2 scalar names (the axes of the surface), got {len(refs)}; "
                            "e.g. --params w1 w2.")
    chosen = [r.name for r in refs]
    current = torch.cat([p.detach().reshape(-1) for p in t.model.parameters()]).double()       # (D,)
    offsets, start = {}, 0
    for pname, p in t.model.named_parameters():
        offsets[pname] = start
        start += p.numel()
    columns = [offsets[r.param] + flat_index(dict(t.model.named_parameters())[r.param].shape, r.index) for r in refs]
    if path is not None and len(steps) > 1:
        keep = stride_indices(len(steps), MAX_PATH_POINTS)
        steps, path = [steps[i] for i in keep], path[keep]
        true_loss = evaluate_points(t.model, names, path, t.x, t.y, t.loss_fn, loss_name=t.loss_name)   # (K,)
        slice_path = path[:, columns]                                                          # (K, 1 or 2)
    else:  # no recorded path (more than 16 scalars): the surface around the final weights
        steps, slice_path, true_loss = [t.step], current[columns][None], None
    art = exact_landscape(t.model, chosen, t.x, t.y, t.loss_fn, slice_path, steps, loss_name=t.loss_name,
                          resolution=resolution, path_loss=true_loss)
    fixed = {n: current[i].item() for i, n in enumerate(names) if i not in columns}
    art["fixed"] = fixed
    if fixed:
        held = ", ".join(f"{n} = {v:.4g}" for n, v in fixed.items())
        art["title"] = f"loss over {', '.join(chosen)} with {held} (final values)"
    elif not names:
        art["title"] = f"loss over {' and '.join(chosen)}, every other parameter at its final value"
    return art


def scalar_position(model: nn.Module, name: str) -> tuple[torch.Tensor, int]:
    """(parameter tensor, flat index) of a scalar name (the naming rule of `models.resolve_names`)."""
    ref = resolve_names(model, [name], what="landscape", error=LearnsysError)[0]
    p = dict(model.named_parameters())[ref.param].detach()
    return p, flat_index(p.shape, ref.index)


def load_snapshots(folder: Path) -> tuple[torch.Tensor | None, list[int]]:
    """Snapshots saved by `SnapshotRecorder` (S, P), else none."""
    path = Path(folder) / SNAPSHOTS_FILE
    if not path.exists():
        return None, []
    state = torch.load(path, weights_only=True)
    return state["params"], list(state["steps"])
