"""Planes through a model's weights (Li et al., "Visualizing the Loss Landscape of Neural Nets", 2018).

  - a random plane through the final weights θ*, θ* + u·d₁ + v·d₂, with each direction
    filter-normalised: every row/filter of d₁ is rescaled to the norm of the same filter of θ*,
    biases and other 1-D parameters are zeroed, which makes surfaces of different networks
    comparable. A model with no weight matrix at all (`poly:2`: three 1-element tensors) would
    get zero directions, a flat "surface"; it gets two orthogonal random directions over all
    its values instead, each scaled to the norm of all the weights. (The paper writes the
    coordinates α, β; in the lectures α is the learning rate and β the smoothing weight, so
    they are u, v here. Artifacts stored before name the axes α, β: same axes, same order.);
  - the plane spanned by the first two principal directions of the parameter snapshots
    θ_i − θ* (PCA), with the trajectory projected on it: random directions are almost
    orthogonal to the path in high dimension, so the paper projects the path on the PCA plane
    instead. The axes say how much of the path's variance each explains. For a model with
    <= 16 scalars every recorded step is a snapshot (its `param/<name>` series).

    art = plane_landscapes(model, x, y, loss_fn, snapshots=path, snapshot_steps=steps)
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call

from ..json_floats import finite_json

MAX_PATH_POINTS = 2000       # the stored path is stride-sampled to at most this many points (first and last kept)
PLANE_LABELS = ("u (along random direction d₁)", "v (along random direction d₂)")   # the random plane's axes


def stride_indices(n: int, limit: int) -> list[int]:
    if n <= limit:
        return list(range(n))
    return torch.linspace(0, n - 1, limit).round().long().unique().tolist()


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


def whole_model_directions(params: dict[str, torch.Tensor], generator: torch.Generator
                           ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """For a model with no weight matrix (filters would all be zeroed): two orthogonal random
    directions over all its values, each scaled to the norm of all the weights (1 if that is 0)."""
    flat = torch.cat([p.reshape(-1) for p in params.values()]).double()    # (P,)
    d1 = torch.randn(flat.shape, generator=generator, dtype=torch.float64)
    d2 = torch.randn(flat.shape, generator=generator, dtype=torch.float64)
    d2 = d2 - (d2 @ d1) / (d1 @ d1) * d1                                    # Gram-Schmidt: a plane, not a line
    scale = float(flat.norm()) or 1.0
    return tuple(_unflatten(d * (scale / float(d.norm().clamp_min(1e-300))), params) for d in (d1, d2))


def plane_losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: Callable,
                 centre: dict[str, torch.Tensor], d1: dict[str, torch.Tensor], d2: dict[str, torch.Tensor],
                 us: torch.Tensor, vs: torch.Tensor, on_progress: Callable | None = None) -> torch.Tensor:
    """loss(centre + u·d1 + v·d2) for every (u, v): (len(vs), len(us)), rows over v."""
    out = torch.empty(len(vs), len(us), dtype=torch.float64)
    model.eval()
    with torch.no_grad():
        for j, v in enumerate(vs.tolist()):
            for i, u in enumerate(us.tolist()):
                params = {k: centre[k] + u * d1[k] + v * d2[k] for k in centre}
                out[j, i] = float(loss_fn(functional_call(model, params, (x,)), y))
            if on_progress:
                on_progress(j + 1, len(vs))
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
                     snapshot_losses: Sequence[float] | None = None, resolution: int = 51, span: float = 1.0,
                     seed: int = 0, loss_name: str = "", on_progress: Callable | None = None) -> dict:
    """The filter-normalised random plane and, with >= 2 snapshots (S, P), the PCA plane with the
    path; `snapshot_losses` (S,), when given, are the training's losses at the snapshots."""
    centre = {k: v.detach().clone() for k, v in model.named_parameters()}
    whole = all(p.dim() <= 1 for p in centre.values())
    g = torch.Generator().manual_seed(seed)
    d1, d2 = whole_model_directions(centre, g) if whole else \
        (filter_normalized_direction(centre, g), filter_normalized_direction(centre, g))
    uv = torch.linspace(-span, span, resolution, dtype=torch.float64)
    random_plane = plane_losses(model, x, y, loss_fn, centre, d1, d2, uv, uv, on_progress)
    kind = "scaled to the weights' norm" if whole else "filter-normalised"
    out = {"version": 1, "kind": "plane", "params": [], "loss": loss_name,
           "n_parameters": sum(p.numel() for p in centre.values()),
           "axes": [{"name": "u", "label": PLANE_LABELS[0], "values": uv.tolist()},
                    {"name": "v", "label": PLANE_LABELS[1], "values": uv.tolist()}],
           "losses": finite_json(random_plane.tolist()), "path": {}, "normalisation": kind,
           "title": f"loss on a random plane through the final weights ({kind}; Li et al. 2018)"}
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
        path = {"steps": [snapshot_steps[i] for i in keep] if snapshot_steps else keep,
                "x": coords[keep, 0].tolist(), "y": coords[keep, 1].tolist()}
        if snapshot_losses is not None:
            path["loss"] = finite_json([float(snapshot_losses[i]) for i in keep])
        out["pca"] = {
            "axes": [{"name": "pc1", "label": f"PC1 ({100 * ratios[0]:.1f}% of the path's variance)",
                      "values": a_axis.tolist()},
                     {"name": "pc2", "label": f"PC2 ({100 * ratios[1]:.1f}%)", "values": b_axis.tolist()}],
            "losses": finite_json(pca.tolist()), "explained": ratios, "path": path,
            "title": "loss on the PCA plane of the trajectory, with the path projected (Li et al. 2018)"}
    return out
