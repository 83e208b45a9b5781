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
from torch.func import functional_call

from ..errors import LearnsysError
from ..json_floats import finite_json
from ..models import flat_index, resolve_names, scalar_names, short_names
from .grid import evaluate_points

MAX_PATH_POINTS = 2000       # the stored path is stride-sampled to at most this many points (first and last kept)
SNAPSHOTS_FILE = "landscape_snapshots.pt"


# -- exact surfaces (1–2 scalars) -------------------------------------------------------------

def box_around(points: torch.Tensor, margin: float = 0.3, min_width: float = 0.5) -> list[tuple[float, float]]:
    """A box around the path (P, D): its extent, widened by `margin` of the width on each side."""
    lo, hi = points.min(0).values, points.max(0).values                    # (D,), (D,)
    width = torch.clamp(hi - lo, min=min_width)
    centre = (lo + hi) / 2
    return [(float(c - w * (0.5 + margin)), float(c + w * (0.5 + margin))) for c, w in zip(centre, width)]


def stride_indices(n: int, limit: int) -> list[int]:
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
    keep = stride_indices(len(steps), MAX_PATH_POINTS)
    path_k = path[keep]                                                     # (K, D)
    path_loss = evaluate_points(model, names, path_k, x, y, loss_fn, loss_name=loss_name)   # (K,)
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
           "losses": finite_json(random_plane.tolist()), "path": {},
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
        keep = stride_indices(coords.shape[0], MAX_PATH_POINTS)
        out["pca"] = {
            "axes": [{"name": "pc1", "label": f"PC1 ({100 * ratios[0]:.1f}% of the path's variance)",
                      "values": a_axis.tolist()},
                     {"name": "pc2", "label": f"PC2 ({100 * ratios[1]:.1f}%)", "values": b_axis.tolist()}],
            "losses": finite_json(pca.tolist()), "explained": ratios,
            "path": {"steps": [snapshot_steps[i] for i in keep] if snapshot_steps else keep,
                     "x": coords[keep, 0].tolist(), "y": coords[keep, 1].tolist()},
            "title": "loss on the PCA plane of the trajectory, with the path projected (Li et al. 2018)"}
    return out


# -- a trained run ----------------------------------------------------------------------------

def landscape_of_run(t, resolution: int = 51, on_progress: Callable | None = None) -> dict:
    """The landscape of a trained run (`trained.open_trained`): exact for 1–2 scalars, else planes."""
    from ..store import RunStore

    names = [n for n in scalar_names(t.model)]
    if 1 <= len(names) <= 2:
        store = RunStore(t.store_path, readonly=True)
        try:
            steps, path = path_from_store(store, t.run_id, names, short_names(t.model))
        finally:
            store.close()
        start_model = copy.deepcopy(t.model)
        start_model.load_state_dict(t.initial)
        start = torch.tensor([[float(p.reshape(-1)[i]) for n in names for p, i in [scalar_position(start_model, n)]]],
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
