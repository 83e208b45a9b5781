"""Gradient check: autograd against central finite differences, and against the closed form
where one is known (linear models with MSE, as lecture 3 derives ∂cost/∂w = 2/N·Σ x(x·w − y)).

    report = gradcheck(model, x, y, "mse")          # float64 copy of the model; the model is untouched
    for row in report["params"]: print(row["name"], row["autograd_vs_fd"], row["analytic_vs_autograd"])

Errors are relative: |a − b| / max(|a|, |b|, 1e-6·max|∂L/∂p|), the largest over a parameter's
elements; the floor keeps elements whose gradient is almost zero from dominating.
Finite differences use a step of `eps` (default 1e-6) in float64, so agreement to about 1e-8
is expected for smooth losses; kinks (relu at 0, mae at 0) can disagree and are reported as is.
Large parameters are checked on `max_checks` elements chosen by a seeded generator.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn
from torch.func import functional_call

from ..models import Linear, LinearNoBias


def _rel(a: torch.Tensor, b: torch.Tensor, floor: float = 1e-12) -> float:
    denom = torch.maximum(torch.maximum(a.abs(), b.abs()), torch.full_like(a, max(floor, 1e-12)))
    return float(((a - b).abs() / denom).max()) if a.numel() else 0.0


def analytic_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor] | None:
    """Closed-form gradient of the MSE for y = x·W (+ b); None for other models."""
    n, t = y.shape                                                          # (N, T)
    if isinstance(model, LinearNoBias):
        r = x @ model.w - y                                                 # (N, T): residuals
        return {"w": 2.0 / (n * t) * x.T @ r}                               # (F, N) @ (N, T)
    if isinstance(model, Linear):
        r = x @ model.linear.weight.T + model.linear.bias - y               # (N, T)
        return {"linear.weight": 2.0 / (n * t) * r.T @ x,                   # (T, N) @ (N, F)
                "linear.bias": 2.0 / (n * t) * r.sum(0)}                    # (T,)
    return None


def gradcheck(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: Callable, *, loss_name: str = "mse",
              eps: float = 1e-6, max_checks: int = 200, seed: int = 0) -> dict:
    """Compare autograd, finite differences and (linear + mse) the closed form, per parameter."""
    net = copy.deepcopy(model).double()
    x, y = x.double(), y.double() if y.is_floating_point() else y
    params = {k: v.detach() for k, v in net.named_parameters()}

    def loss_at(values: dict[str, torch.Tensor]) -> torch.Tensor:
        return loss_fn(functional_call(net, values, (x,)), y)

    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    loss = loss_at(leaves)
    auto = dict(zip(leaves, torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)))
    analytic = analytic_gradients(net, x, y) if loss_name == "mse" else None
    g = torch.Generator().manual_seed(seed)
    rows = []
    with torch.no_grad():
        for name, p in params.items():
            ga = auto[name] if auto[name] is not None else torch.zeros_like(p)
            flat = torch.randperm(p.numel(), generator=g)[:max_checks] if p.numel() > max_checks \
                else torch.arange(p.numel())
            fd = torch.empty(len(flat), dtype=torch.float64)
            floor = 1e-6 * float(ga.abs().max()) if ga.numel() else 0.0
            for i, k in enumerate(flat.tolist()):
                plus, minus = p.clone(), p.clone()
                plus.view(-1)[k] += eps
                minus.view(-1)[k] -= eps
                fd[i] = (loss_at({**params, name: plus}) - loss_at({**params, name: minus})) / (2 * eps)
            row = {"name": name, "shape": list(p.shape), "checked": len(flat),
                   "max_abs_grad": float(ga.abs().max()) if ga.numel() else 0.0,
                   "autograd_vs_fd": _rel(ga.reshape(-1)[flat], fd, floor)}
            if analytic is not None:
                row["analytic_vs_autograd"] = _rel(analytic[name].reshape(ga.shape), ga, floor)
                row["analytic_vs_fd"] = _rel(analytic[name].reshape(-1)[flat], fd, floor)
            rows.append(row)
    return {"loss": loss.item(), "eps": eps, "rows_in_batch": x.shape[0], "analytic": analytic is not None,
            "params": rows}


def report_lines(report: dict) -> list[str]:
    cols = ["autograd_vs_fd"] + (["analytic_vs_autograd", "analytic_vs_fd"] if report["analytic"] else [])
    width = max(len(r["name"]) for r in report["params"])
    lines = [f"loss {report['loss']:.6g} on {report['rows_in_batch']} row(s); largest relative error per parameter "
             f"(finite differences: central, eps {report['eps']:g}, float64)",
             f"{'parameter':<{width}}  {'checked':>7}  " + "  ".join(f"{c:>20}" for c in cols)]
    for r in report["params"]:
        lines.append(f"{r['name']:<{width}}  {r['checked']:>7}  " + "  ".join(f"{r[c]:>20.3e}" for c in cols))
    if not report["analytic"]:
        lines.append("(no closed form for this model and loss; the closed form is known for linear models with mse)")
    return lines
