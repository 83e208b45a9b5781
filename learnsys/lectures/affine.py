"""The search's fast path for affine models (`linear`, `linear-nobias`): ŷ = x·W + b is one
matrix product per chunk of grid points instead of a `vmap` of one small product per point.

    evaluate, chunk = affine_evaluator(net, coords, base, x, y, loss_fn, mse=True, compiled=False,
                                       max_memory_mb=256, total=P)
    losses = evaluate(points, chunk)        # (P,) for a (P, D) chunk of grid points

Eager, a chunk is one matmul [W; b]·[x, 1]ᵀ into a reused buffer sized to stay in the CPU's
caches; with MSE then ŷ − y and its square in place and one sum (the order `MSELoss` takes, so
a float64 search prints the lecture 2 listing's numbers bitwise). Other losses `vmap` over the
chunk's ŷ. Compiled (`--compile`) with MSE and up to 16 features, a chunk is one fused kernel
that never writes ŷ: the broadcast sum Σ_f W_f·x_f + b − y is unrolled, so inductor makes it a
single reduction. Same numbers as the generic path up to float32 rounding
(tests/test_lectures_search.py).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.func import vmap

from ..models import Linear, LinearNoBias, ScalarRef
from .grid import linear_weights

CACHE_BYTES = 2 * 2**20      # an eager block's residuals stay in the CPU's caches (measured: docs/performance.md)
COMPILED_CHUNK = 65_536      # points per chunk (per fused call when compiled)
UNROLL_FEATURES = 16         # up to this many features the compiled chunk is one fused kernel


def is_affine(net: nn.Module, x, y) -> bool:
    """One affine layer on (N, F) inputs with (N, T) float targets (the regression losses)."""
    return isinstance(net, (Linear, LinearNoBias)) and all(
        isinstance(t, torch.Tensor) and t.ndim == 2 and t.is_floating_point() for t in (x, y))


def affine_evaluator(net: nn.Module, coords: list[ScalarRef], base: dict, x: torch.Tensor, y: torch.Tensor,
                     loss_fn: Callable, *, mse: bool, compiled: bool, max_memory_mb: float,
                     total: int) -> tuple[Callable, int]:
    """The chunk evaluator and its chunk size (points) for `total` grid points."""
    dt = next(iter(base.values())).dtype                    # the model's dtype (float64 for the lecture views)
    x, y = x.to(dt), y.to(dt)                                                               # (N, F), (N, T)
    n, f, t = x.shape[0], x.shape[1], y.shape[1]
    bias = not isinstance(net, LinearNoBias)
    ones = [torch.ones(n, 1, dtype=dt)] if bias else []
    x_t = torch.cat([x, *ones], 1).T.contiguous()                                           # (K, N): [x, 1]ᵀ
    y_t = y.T.contiguous()                                                                  # (T, N)
    es = x.element_size()
    block = max(1, CACHE_BYTES // (es * n * t))      # points per in-cache block of (T, N) residuals

    def blocks(w: torch.Tensor, b: torch.Tensor | None, buffer: torch.Tensor) -> torch.Tensor:
        """Eager: the chunk's losses, block by block in `buffer` (in place, the CPU's caches)."""
        one = f == 1   # ŷ = w·x (+ b): a product and a sum, as the lecture's forward computes them
        rows = w if one or not bias else torch.cat([w, b[:, None, :]], 1)                 # (P, F or K, T)
        rows = rows.transpose(1, 2).reshape(-1, rows.shape[1])                             # (P·T, F or K)
        b_rows = b.reshape(-1, 1) if one and bias else None                                 # (P·T, 1)
        out = torch.empty(w.shape[0], dtype=dt)                                             # (P,)
        for lo in range(0, w.shape[0], block):
            hi = min(w.shape[0], lo + block)
            r = buffer[:(hi - lo) * t]                                                      # (B·T, N)
            if one:
                torch.mul(rows[lo * t:hi * t], x_t[:1], out=r)
                if b_rows is not None:
                    r.add_(b_rows[lo * t:hi * t])
            else:      # ŷ = [W; b]·[x, 1]ᵀ: one matmul
                torch.mm(rows[lo * t:hi * t], x_t, out=r)
            if mse:  # in place: ŷ − y, squared, summed (the order MSELoss takes: float64 is the listing's)
                r.view(-1, t, n).sub_(y_t).square_()
                torch.sum(r.view(-1, t * n), 1, out=out[lo:hi])
            else:
                out[lo:hi] = vmap(lambda p: loss_fn(p, y))(r.view(-1, t, n).transpose(1, 2))
        return out.div_(n * t) if mse else out                                              # (P,)

    def fused(w, b) -> torch.Tensor:
        if t == 1:  # (P, N): the reduction inductor makes fastest
            r = (b[:, :1] if bias else 0) - y[None, :, 0]
            for j in range(f):
                r = r + w[:, j, :1] * x[None, :, j]
            return (r * r).mean(1)                                                          # (P,)
        r = (b[:, None, :] if bias else 0) - y[None]                                        # (P, N, T)
        for j in range(f):
            r = r + w[:, j, None, :] * x[None, :, j, None]
        return (r * r).mean((1, 2))                                                         # (P,)

    fuse = compiled and mse and f <= UNROLL_FEATURES
    # fused: the points' weights are built inside the compiled graph too (one kernel from points to losses)
    fn = torch.compile(lambda points: fused(*linear_weights(net, coords, base, points)), dynamic=False) if fuse else blocks
    # a chunk's bytes: its weights (W, then [W; b]) and its losses; the blocks' buffer is apart
    per_point = es * (2 * (f + 1) * t + 2)
    chunk = max(1, min(int(max_memory_mb * 2**20 // per_point), COMPILED_CHUNK, total))
    buffer = None if fuse else torch.empty(min(block, chunk) * t, n, dtype=dt)

    def evaluate(points: torch.Tensor, size: int) -> torch.Tensor:
        k = points.shape[0]
        if compiled and k < size:  # pad the last chunk: one shape, one compilation
            points = torch.cat([points, points[-1:].expand(size - k, -1)])
        with torch.no_grad():
            return (fn(points) if fuse else blocks(*linear_weights(net, coords, base, points), buffer))[:k]   # (P,)

    return evaluate, chunk
