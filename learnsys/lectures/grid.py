"""The loss at many points of parameter space at once: what search and landscape share.

A point gives values to some scalars of a model (`w`, `b`, `linear.weight[0,0]`); the other
parameters keep the model's current values. Two evaluators, same numbers up to rounding:

  - vmap: any model and loss; `torch.func.functional_call` + `vmap` over chunks of points,
    each chunk sized to fit a memory budget (`chunk_size`); optionally through `torch.compile`;
  - statistics: linear models with MSE. The loss of y = x·W + b is a quadratic form in (W, b)
    whose coefficients are the sufficient statistics Σxxᵀ, Σx, Σxyᵀ, Σy, Σy², n, so a point
    costs a few flops and never touches the data.

    coords = resolve(model, ["w", "b"])
    losses = evaluate_points(model, ["w", "b"], points, x, y, loss_fn, loss_name="mse")   # (P,)
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, vmap

from ..errors import SearchError
from ..models import Linear, LinearNoBias, ScalarRef, resolve_names


def resolve(model: nn.Module, names: Sequence[str]) -> list[ScalarRef]:
    """Map scalar names to (parameter, index) by the one naming rule (`models.resolve_names`);
    unknown names are one error listing them all and the valid names."""
    return resolve_names(model, names, what="grid", error=SearchError)


# -- evaluators ----------------------------------------------------------------------------

def chunk_size(net: nn.Module, x: torch.Tensor, coords: list[ScalarRef], max_memory_mb: float) -> int:
    """Grid points per vmap call such that one call's tensors stay under max_memory_mb.

    Per point: the batched parameters plus every module output on all N rows, counted by a
    probe forward pass, times 3 (forward value, the loss's temporaries, the output copy)."""
    sizes: list[int] = []
    hooks = [m.register_forward_hook(lambda m, i, o: sizes.append(o.numel() if torch.is_tensor(o) else 0))
             for m in net.modules()]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in hooks:
            h.remove()
    params = dict(net.named_parameters())
    per_point = (3 * (sum(sizes) + x.shape[0]) + sum(params[p].numel() for p in {c.param for c in coords}))
    per_point *= x.element_size()
    return max(1, int(max_memory_mb * 2**20 // per_point))


def batched_params(coords: list[ScalarRef], base: dict, points: torch.Tensor) -> dict[str, torch.Tensor]:
    """The grid's parameters for a chunk: each touched tensor as (P, *shape), values set exactly."""
    out = {}
    for j, c in enumerate(coords):
        if c.param not in out:
            b = base[c.param]
            out[c.param] = b.expand(points.shape[0], *b.shape).clone()     # (P, *shape)
        out[c.param][(slice(None), *c.index)] = points[:, j].to(out[c.param].dtype)
    return out


def vmap_evaluator(net, coords, base, x, y, loss_fn, *, compiled: bool):
    fixed = {k: v for k, v in base.items() if k not in {c.param for c in coords}}

    def one_point(params: dict) -> torch.Tensor:
        pred = functional_call(net, {**fixed, **params}, (x,))             # (N, O)
        return loss_fn(pred, y)                                             # ()

    def chunk_losses(params: dict) -> torch.Tensor:
        return vmap(one_point)(params)                                      # (P,)

    fn = torch.compile(chunk_losses, dynamic=False) if compiled else chunk_losses

    def evaluate(points: torch.Tensor, chunk: int) -> torch.Tensor:
        n = points.shape[0]
        if compiled and n < chunk:  # pad the last chunk: one shape, one compilation
            points = torch.cat([points, points[-1:].expand(chunk - n, -1)])
        with torch.no_grad():
            return fn(batched_params(coords, base, points))[:n]           # (P,)

    return evaluate


# -- sufficient statistics (linear + MSE) ----------------------------------------------------

def _stats(x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    x, y = x.double(), y.double()                                           # (N, F), (N, T)
    return {"n": torch.tensor(float(x.shape[0]), dtype=torch.float64),
            "sxx": x.T @ x,                                                 # (F, F)
            "sx": x.sum(0),                                                 # (F,)
            "sxy": x.T @ y,                                                 # (F, T)
            "sy": y.sum(0),                                                 # (T,)
            "syy": (y * y).sum(0)}                                          # (T,)


def linear_weights(net: nn.Module, coords: list[ScalarRef], base: dict,
                   points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(W as (P, F, T), b as (P, T) or None) of a linear model at each of `points`; the scalars
    the grid does not name keep `base`'s values."""
    params = batched_params(coords, base, points)
    params = {k: params.get(k, v.expand(points.shape[0], *v.shape)) for k, v in base.items()}
    if isinstance(net, LinearNoBias):
        return params["w"], None                                            # (P, F, T)
    return params["linear.weight"].transpose(1, 2), params["linear.bias"]  # (P, F, T), (P, T)


def statistics_evaluator(net, coords, base, x, y):
    s = _stats(x, y)
    n, t = s["n"], y.shape[1]
    base64 = {k: v.double() for k, v in base.items()}

    def evaluate(points: torch.Tensor, chunk: int) -> torch.Tensor:
        w, b = linear_weights(net, coords, base64, points)                  # (P, F, T), (P, T)
        sxx_w = torch.einsum("fg,pgt->pft", s["sxx"], w)                   # (P, F, T)
        total = (w * sxx_w).sum((1, 2)) - 2 * torch.einsum("pft,ft->p", w, s["sxy"]) + s["syy"].sum()  # (P,)
        if b is not None:
            total = total + 2 * torch.einsum("pt,pft,f->p", b, w, s["sx"]) + n * (b * b).sum(1) \
                - 2 * (b * s["sy"]).sum(1)                                  # (P,)
        return total / (n * t)

    return evaluate


def one_feature_one_target(net: nn.Module) -> bool:
    """A linear model whose parameters are all single scalars (w, and b for `linear`)."""
    return all(p.numel() == 1 for p in net.parameters())


def statistics_product(net, coords, base, x, y, axes, out: torch.Tensor) -> None:
    """One feature, one target, a product grid over w and/or b:
    n·L(w, b) = Sxx·w² − 2·Sxy·w + Syy  +  n·b² − 2·Sy·b  +  2·Sx·w·b = A(w) + B(b) + C·w·b,
    so the (n_w, n_b) grid is an outer sum plus one rank-1 update: two passes over `out`."""
    s = {k: float(v.reshape(-1)[0]) for k, v in _stats(x, y).items()}
    wname = "w" if isinstance(net, LinearNoBias) else "linear.weight"
    w_axis, b_axis = torch.tensor([float(base[wname].reshape(-1)[0])], dtype=torch.float64), None
    if isinstance(net, Linear):
        b_axis = torch.tensor([float(base["linear.bias"].reshape(-1)[0])], dtype=torch.float64)
    for c, a in zip(coords, axes):
        if c.param == wname:
            w_axis = a
        else:
            b_axis = a
    n = s["n"]
    a_w = ((s["sxx"] * w_axis - 2 * s["sxy"]) * w_axis + s["syy"]) / n      # (n_w,)
    if b_axis is None:
        out.copy_(a_w)                                                      # (n_w,)
        return
    b_b = (n * b_axis - 2 * s["sy"]) * b_axis / n                           # (n_b,)
    if coords[0].param == wname:  # the user's first axis is w: out is (n_w, n_b)
        grid = out.view(len(w_axis), len(b_axis))
        torch.add(a_w[:, None], b_b[None, :], out=grid)
        grid.addr_(w_axis, b_axis, alpha=2 * s["sx"] / n)
    else:                         # first axis b: out is (n_b, n_w)
        grid = out.view(len(b_axis), len(w_axis))
        torch.add(b_b[:, None], a_w[None, :], out=grid)
        grid.addr_(b_axis, w_axis, alpha=2 * s["sx"] / n)


# -- points given directly (the landscape's surfaces and paths) -------------------------------

def evaluate_points(net: nn.Module, names: Sequence[str], points: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                    loss_fn: Callable, *, loss_name: str = "", max_memory_mb: float = 256.0) -> torch.Tensor:
    """The loss at each of `points` (P, D): column j is the value of scalar `names[j]`; the other
    parameters keep the model's current values. Sufficient statistics for linear + mse, else vmap."""
    coords = resolve(net, names)
    base = {k: v.detach() for k, v in net.named_parameters()}
    if isinstance(net, (Linear, LinearNoBias)) and loss_name == "mse":
        evaluate, chunk = statistics_evaluator(net, coords, base, x, y), 1 << 16
    else:
        evaluate = vmap_evaluator(net, coords, base, x, y, loss_fn, compiled=False)
        chunk = chunk_size(net, x, coords, max_memory_mb)
    out = torch.empty(points.shape[0], dtype=torch.float64)                 # (P,)
    for start in range(0, points.shape[0], chunk):
        out[start:start + chunk] = evaluate(points[start:start + chunk].double(), chunk).double()
    return out
