"""Exhaustive search (lecture 2): the loss at every point of a grid of parameter values.

    result = search("linear-nobias", "lecture", grid={"w": axis("0:4:0.1")})
    result.best()            # ({'w': 2.0}, 0.0)
    result.losses            # (P,) one loss per grid point, the last axis fastest
    run_id = store_search(result, "runs")   # a run of kind 'search' + the 'search' artifact

Parameters are named as `models.scalar_names` names them (`w`, `w1`, `b`,
`linear.weight[0,0]`); `w`/`b` also name `linear.weight`/`linear.bias` when those are single
scalars. Parameters not in the grid keep their seeded (or `init`) values.

Three ways to evaluate, same numbers up to rounding:
  - `vmap`: any model and loss; `torch.func.functional_call` + `vmap` over chunks of grid
    points, each chunk sized to fit `max_memory_mb`;
  - `compiled`: the same chunk function through `torch.compile`;
  - `statistics`: linear models with MSE. The loss of y = x·W + b is a quadratic form in
    (W, b) whose coefficients are the sufficient statistics Σxxᵀ, Σx, Σxyᵀ, Σy, Σy², n, so
    a grid point costs a few flops and never touches the data.
Ctrl-C stops the search and keeps what was evaluated (`partial=True`).
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, vmap

from .data import DataSet, load_data
from .errors import LearnsysError
from .models import Linear, LinearNoBias, apply_init, build_model

LOSSES = ("auto", "mse", "mae", "bce", "cross-entropy")
METHODS = ("auto", "vmap", "compiled", "statistics")
MAX_POINTS = 100_000_000      # losses are kept as float64: 800 MB at this size
MAX_STORED_CELLS = 40_000      # the artifact keeps at most this many loss values (stride-sampled)
STORED_TOP = 100


class SearchError(LearnsysError):
    """A grid, parameter name or search option that cannot be used."""


# -- grids -----------------------------------------------------------------------------------

def axis(text: str, *, name: str = "?", box: bool = False) -> torch.Tensor:
    """`start:stop:step` (stop included, values start + i·step as np.arange makes them) or `a,b,c`;
    with box=True (for --samples) also `start:stop`, the two ends of the box."""
    text = text.strip()
    try:
        if ":" in text:
            parts = [float(v) for v in text.split(":")]
            if box and len(parts) == 2 and parts[1] >= parts[0]:
                return torch.tensor(parts, dtype=torch.float64)                # (2,)
            if len(parts) == 2:
                raise SearchError(f"Grid {name}={text}: give a step too ({name}={text}:0.1), "
                                  "or use --samples N to draw random points in the box.")
            if len(parts) != 3:
                raise ValueError
            start, stop, step = parts
            if not (step > 0 and stop >= start and all(map(math.isfinite, parts))):
                raise SearchError(f"Grid {name}={text}: needs step > 0 and stop >= start, e.g. {name}=0:4:0.1.")
            n = int(math.floor((stop - start) / step + 1e-9)) + 1
            if n > MAX_POINTS:
                raise SearchError(f"Grid {name}={text} has {n:.3g} values, more than {MAX_POINTS:,}; "
                                  "use a larger step or --samples N.")
            return torch.arange(n, dtype=torch.float64) * step + start       # (n,)
        values = [float(v) for v in text.split(",") if v.strip()]
        if not values or not all(map(math.isfinite, values)):
            raise ValueError
        return torch.tensor(values, dtype=torch.float64)                      # (n,)
    except ValueError:
        raise SearchError(f"Grid {name}={text!r} is not start:stop:step or a,b,c of numbers; "
                          f"e.g. --grid {name}=0:4:0.1 or --grid {name}=1,2,3.") from None


def parse_grid(items: Sequence[str], *, box: bool = False) -> dict[str, torch.Tensor]:
    """`["w=0:4:0.1", "b=-1,0,1"]` -> {'w': tensor, 'b': tensor}, in the order given."""
    out: dict[str, torch.Tensor] = {}
    for item in items:
        name, eq, text = item.partition("=")
        name = name.strip()
        if not eq or not name:
            raise SearchError(f"--grid takes name=start:stop:step or name=a,b,c, got {item!r}; e.g. --grid w=0:4:0.1.")
        if name in out:
            raise SearchError(f"--grid names {name!r} twice; give each parameter once.")
        out[name] = axis(text, name=name, box=box)
    return out


@dataclass
class Coordinate:
    """One scalar of the model: the parameter tensor's name and the index inside it."""
    name: str            # the name the user gave, e.g. 'w' or 'linear.weight[0,0]'
    param: str           # the parameter's name in named_parameters()
    index: tuple         # () for a 1-element tensor seen as a whole, else the full index


def resolve(model: nn.Module, names: Sequence[str]) -> list[Coordinate]:
    """Map scalar names to (parameter, index); unknown names are one error listing them all."""
    params = dict(model.named_parameters())
    aliases = {}
    for short, long in (("w", "linear.weight"), ("b", "linear.bias")):
        if short not in params and long in params and params[long].numel() == 1:
            aliases[short] = long
    out, bad = [], []
    for name in names:
        m = re.fullmatch(r"([A-Za-z_][\w.]*)(?:\[([\d, ]+)\])?", name)
        pname = m and aliases.get(m.group(1), m.group(1))
        if not m or pname not in params:
            bad.append(name)
            continue
        p = params[pname]
        if m.group(2) is None:
            if p.numel() != 1:
                bad.append(f"{name} (has {p.numel()} values; name one as {pname}[{','.join('0' * p.dim())}])")
                continue
            index = tuple(0 for _ in p.shape)
        else:
            index = tuple(int(i) for i in m.group(2).split(","))
            if len(index) != p.dim() or any(not 0 <= i < s for i, s in zip(index, p.shape)):
                bad.append(f"{name} (index out of range for shape {tuple(p.shape)})")
                continue
        out.append(Coordinate(name, pname, index))
    if bad:
        names_hint = ", ".join(n + (f" (shape {'x'.join(map(str, p.shape))}: name one value as {n}[{','.join('0' * p.dim())}])"
                                    if p.numel() > 1 else "") for n, p in params.items())
        raise SearchError(f"Unknown grid parameter(s) {', '.join(bad)}; the model's parameters are {names_hint}.")
    seen = {}
    for c in out:
        key = (c.param, c.index)
        if key in seen:
            raise SearchError(f"Grid names {seen[key]!r} and {c.name!r} are the same parameter; give it once.")
        seen[key] = c.name
    return out


# -- losses ----------------------------------------------------------------------------------

def loss_function(name: str, model_name: str, n_classes: int) -> tuple[str, Callable]:
    """The loss by name ('auto': bce for logistic, cross-entropy for classes, else mse), mean-reduced."""
    if name not in LOSSES:
        raise SearchError(f"Unknown loss {name!r}; use one of {', '.join(LOSSES)}.")
    if name == "auto":
        name = "bce" if model_name == "logistic" else "cross-entropy" if n_classes or model_name == "softmax" else "mse"
    fns = {
        "mse": lambda p, y: nn.functional.mse_loss(p, y),
        "mae": lambda p, y: nn.functional.l1_loss(p, y),
        "bce": lambda p, y: nn.functional.binary_cross_entropy_with_logits(p, y),
        "cross-entropy": lambda p, y: nn.functional.cross_entropy(p, y[:, 0].long()),
    }
    return name, fns[name]


# -- the result ------------------------------------------------------------------------------

@dataclass
class SearchResult:
    names: list[str]                    # grid parameter names, one per axis / point column
    axes: list[torch.Tensor] | None     # product grid: one (n_i,) float64 tensor per name; None when sampled
    samples: torch.Tensor | None        # sampled grid: (P, D) float64 points
    losses: torch.Tensor                # (P,) float64, NaN where not evaluated (Ctrl-C)
    fixed: dict[str, list]              # every parameter outside the grid, as nested lists
    meta: dict = field(default_factory=dict)   # data, model, loss, method, seconds, evaluated, partial, ...

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a) for a in self.axes) if self.axes is not None else (len(self.samples),)

    def points(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Grid points start..stop as a (P, D) float64 tensor (C order: the last axis fastest)."""
        if self.axes is None:
            return self.samples[start:stop]
        return _product_points(self.axes, start, self.losses.numel() if stop is None else stop)

    def top(self, k: int) -> list[tuple[dict[str, float], float]]:
        """The k lowest losses as ({name: value}, loss), best first; NaN never ranks."""
        keys = torch.nan_to_num(self.losses, nan=math.inf)                   # (P,)
        k = min(k, int(torch.isfinite(keys).sum()))
        if k == 0:
            return []
        values, idx = torch.topk(keys, k, largest=False, sorted=True)
        out = []
        for i, v in zip(idx.tolist(), values.tolist()):
            point = self.points(i, i + 1)[0].tolist()                       # (D,)
            out.append((dict(zip(self.names, point)), v))
        return out

    def best(self) -> tuple[dict[str, float], float]:
        top = self.top(1)
        if not top:
            raise SearchError("No grid point has a finite loss; widen or move the grid.")
        return top[0]

    def artifact(self, top: int = STORED_TOP) -> dict:
        """The JSON the run store keeps as artifact 'search' (format in docs/lectures.md)."""
        best_point, best_loss = self.best()
        out = {"version": 1, "kind": "curve" if len(self.names) == 1 and self.axes is not None
               else "heatmap" if len(self.names) == 2 and self.axes is not None else "table",
               "params": list(self.names), **{k: self.meta.get(k) for k in
                                               ("data", "model", "loss", "method", "seconds", "evaluated",
                                                "total", "partial", "seed")},
               "fixed": self.fixed, "best": {"point": best_point, "loss": best_loss},
               "top": [{"point": p, "loss": v} for p, v in self.top(top)]}
        if out["kind"] in ("curve", "heatmap"):
            strides = _strides(self.shape, MAX_STORED_CELLS)
            grid = self.losses.reshape(self.shape)
            if len(strides) == 1:
                grid = grid[::strides[0]]
            else:
                grid = grid[::strides[0], ::strides[1]]
            out["axes"] = [{"name": n, "values": a[::s].tolist(), "stride": s, "size": len(a)}
                           for n, a, s in zip(self.names, self.axes, strides)]
            out["losses"] = _json_floats(grid.tolist())
        return out


def _product_points(axes: list[torch.Tensor], start: int, stop: int) -> torch.Tensor:
    flat = torch.arange(start, stop)                                        # (P,)
    cols = []
    for size, a in zip(reversed([len(a) for a in axes]), reversed(axes)):
        cols.append(a[flat % size])
        flat = flat // size
    return torch.stack(cols[::-1], dim=1)                                   # (P, D)


def _strides(shape: tuple[int, ...], max_cells: int) -> list[int]:
    strides = [1] * len(shape)
    while math.prod(math.ceil(n / s) for n, s in zip(shape, strides)) > max_cells:
        i = max(range(len(shape)), key=lambda j: math.ceil(shape[j] / strides[j]))
        strides[i] += 1
    return strides


def _json_floats(value):
    """NaN/inf are not JSON: write them as null."""
    if isinstance(value, list):
        return [_json_floats(v) for v in value]
    return value if math.isfinite(value) else None


# -- the search ------------------------------------------------------------------------------

def search(model: str | nn.Module = "linear-nobias", data: str | DataSet = "lecture",
           grid: dict[str, Sequence[float] | torch.Tensor] | None = None, *,
           samples: int = 0, init: dict | None = None, seed: int = 0, loss: str = "auto",
           model_args: dict | None = None, data_args: dict | None = None, target: list[str] | None = None,
           method: str = "auto", max_memory_mb: float = 256.0, dtype: torch.dtype = torch.float32,
           on_progress: Callable[[int, int], None] | None = None) -> SearchResult:
    """Evaluate the loss at every grid point (or at `samples` random points in the grid's box).

    `model` is a built-in/user model name (built after `torch.manual_seed(seed)`, then `init`
    applied) or a ready nn.Module; `data` a data set name or a DataSet. `on_progress(done, total)`
    is called after each chunk."""
    if not grid:
        raise SearchError("Give at least one --grid name=start:stop:step, e.g. --grid w=0:4:0.1.")
    if method not in METHODS:
        raise SearchError(f"Unknown search method {method!r}; use one of {', '.join(METHODS)}.")
    if not (isinstance(max_memory_mb, (int, float)) and max_memory_mb > 0):
        raise SearchError(f"--max-memory {max_memory_mb!r} must be a positive number of megabytes.")
    ds = data if isinstance(data, DataSet) else load_data(data, target=target, data_args=data_args)
    model_name = model if isinstance(model, str) else type(model).__name__
    loss_name, loss_fn = loss_function(loss, model_name, ds.n_classes)
    if isinstance(model, str):
        n_out = ds.n_classes if loss_name == "cross-entropy" else ds.y.shape[1]
        torch.manual_seed(seed)
        net = build_model(model, ds.n_features, n_out, model_args)
    else:
        net = model
    apply_init(net, init or {})
    net = net.to(dtype)
    x, y = ds.x.to(dtype), ds.y.to(dtype)                                   # (N, F), (N, T)
    names = list(grid)
    coords = resolve(net, names)
    axes = [torch.as_tensor(grid[n], dtype=torch.float64).flatten() for n in names]
    if any(a.numel() == 0 for a in axes):
        raise SearchError("A grid axis has no values; check start:stop:step.")
    sampled = None
    if samples:
        if not (isinstance(samples, int) and 0 < samples <= MAX_POINTS):
            raise SearchError(f"--samples {samples!r} must be an integer from 1 to {MAX_POINTS:,}.")
        lo = torch.stack([a.min() for a in axes])                          # (D,)
        hi = torch.stack([a.max() for a in axes])                          # (D,)
        g = torch.Generator().manual_seed(seed)
        sampled = lo + (hi - lo) * torch.rand(samples, len(axes), generator=g, dtype=torch.float64)  # (P, D)
        axes = None
    total = samples or math.prod(len(a) for a in axes)
    if total > MAX_POINTS:
        raise SearchError(f"The grid has {total:,} points, more than {MAX_POINTS:,}; use larger steps, fewer "
                          "parameters, or --samples N random points.")

    base = {k: v.detach() for k, v in net.named_parameters()}
    fixed = {k: v.tolist() for k, v in base.items() if sum(c.param == k for c in coords) < v.numel()}
    result = SearchResult(names, axes, sampled, torch.full((total,), math.nan, dtype=torch.float64), fixed,
                          {"data": ds.source, "model": model_name, "loss": loss_name, "seed": seed,
                           "total": total, "dtype": str(dtype).replace("torch.", "")})

    use_stats = isinstance(net, (Linear, LinearNoBias)) and loss_name == "mse"
    if method == "statistics" and not use_stats:
        raise SearchError(f"--method statistics needs a linear or linear-nobias model with mse loss, "
                          f"not {model_name} with {loss_name}; use --method vmap.")
    method = "statistics" if method == "auto" and use_stats else "vmap" if method == "auto" else method
    t0 = time.perf_counter()
    if method == "statistics":
        evaluate = _statistics_evaluator(net, coords, base, x, y)
        per_point = 8 * 4 * (8 + sum(p.numel() for p in base.values()))   # float64 W, W·Sxx, b, sums
        chunk = max(1, int(max_memory_mb * 2**20 // per_point))
    else:
        evaluate = _vmap_evaluator(net, coords, base, x, y, loss_fn, compiled=method == "compiled")
        chunk = chunk_size(net, x, coords, max_memory_mb)
        if method == "compiled":  # fused: the loss's temporaries are never materialised, the x3 margin is free
            chunk *= 3
    done = 0
    try:
        if method == "statistics" and axes is not None and _one_feature_one_target(net):
            _statistics_product(net, coords, base, x, y, axes, out=result.losses)   # no chunks
            done = total
        else:
            while done < total:
                stop = min(total, done + chunk)
                result.losses[done:stop] = evaluate(result.points(done, stop), chunk).double()
                done = stop
                if on_progress:
                    on_progress(done, total)
    except KeyboardInterrupt:
        pass  # keep what is evaluated; `partial` says so
    result.meta.update(method=method, seconds=time.perf_counter() - t0, evaluated=done, partial=done < total,
                       chunk=chunk)
    return result


def chunk_size(net: nn.Module, x: torch.Tensor, coords: list[Coordinate], max_memory_mb: float) -> int:
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


def _batched_params(coords: list[Coordinate], base: dict, points: torch.Tensor) -> dict[str, torch.Tensor]:
    """The grid's parameters for a chunk: each touched tensor as (P, *shape), values set exactly."""
    out = {}
    for j, c in enumerate(coords):
        if c.param not in out:
            b = base[c.param]
            out[c.param] = b.expand(points.shape[0], *b.shape).clone()     # (P, *shape)
        out[c.param][(slice(None), *c.index)] = points[:, j].to(out[c.param].dtype)
    return out


def _vmap_evaluator(net, coords, base, x, y, loss_fn, *, compiled: bool):
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
            return fn(_batched_params(coords, base, points))[:n]           # (P,)

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


def _weights(net: nn.Module, params: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(W as (P, F, T), b as (P, T) or None) from batched parameters of a linear model."""
    if isinstance(net, LinearNoBias):
        return params["w"], None                                            # (P, F, T)
    return params["linear.weight"].transpose(1, 2), params["linear.bias"]  # (P, F, T), (P, T)


def _statistics_evaluator(net, coords, base, x, y):
    s = _stats(x, y)
    n, t = s["n"], y.shape[1]
    base64 = {k: v.double() for k, v in base.items()}

    def evaluate(points: torch.Tensor, chunk: int) -> torch.Tensor:
        params = _batched_params(coords, base64, points)
        params = {k: params.get(k, v.expand(points.shape[0], *v.shape)) for k, v in base64.items()}
        w, b = _weights(net, params)                                        # (P, F, T), (P, T)
        sxx_w = torch.einsum("fg,pgt->pft", s["sxx"], w)                   # (P, F, T)
        total = (w * sxx_w).sum((1, 2)) - 2 * torch.einsum("pft,ft->p", w, s["sxy"]) + s["syy"].sum()  # (P,)
        if b is not None:
            total = total + 2 * torch.einsum("pt,pft,f->p", b, w, s["sx"]) + n * (b * b).sum(1) \
                - 2 * (b * s["sy"]).sum(1)                                  # (P,)
        return total / (n * t)

    return evaluate


def _one_feature_one_target(net: nn.Module) -> bool:
    """A linear model whose parameters are all single scalars (w, and b for `linear`)."""
    return all(p.numel() == 1 for p in net.parameters())


def _statistics_product(net, coords, base, x, y, axes, out: torch.Tensor) -> None:
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


# -- storing ---------------------------------------------------------------------------------

def new_run_id(kind: str) -> str:
    return f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def store_search(result: SearchResult, runs_dir: str | Path, spec: dict | None = None,
                 run_id: str | None = None) -> str:
    """Store the search as a run of kind 'search': folder with spec.json and params.json, a row
    in learnsys.sqlite, and the 'search' artifact. Returns the run id."""
    from .store import STORE_FILENAME, RunStore

    runs_dir = Path(runs_dir)
    run_id = run_id or new_run_id("search")
    folder = runs_dir / run_id
    try:
        folder.mkdir(parents=True, exist_ok=False)
    except OSError as e:
        raise SearchError(f"Cannot create the run folder {folder}: {e.strerror or e}. "
                          "Check that --runs-dir is writable.") from None
    best_point, best_loss = result.best()
    spec = {"kind": "search", "params": result.names, **{k: result.meta.get(k) for k in
                                                           ("data", "model", "loss", "seed", "total")},
            **(spec or {})}
    (folder / "spec.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    (folder / "params.json").write_text(json.dumps({"fixed": result.fixed, "best": best_point,
                                                    "best_loss": best_loss}, indent=1), encoding="utf-8")
    store = RunStore(runs_dir / STORE_FILENAME)
    try:
        store.create_run(run_id, kind="search", spec=spec, folder=str(folder.resolve()), data=result.meta["data"],
                         model=result.meta["model"], total_steps=result.meta["total"],
                         status="stopped" if result.meta.get("partial") else "finished")
        store.update_run(run_id, step=result.meta.get("evaluated", 0),
                         message=f"best {best_point} loss {best_loss:.6g}")
        store.put_artifact(run_id, "search", result.artifact())
    finally:
        store.close()
    return run_id


# -- the report the CLI prints ---------------------------------------------------------------

def report_lines(result: SearchResult, top: int = 10, max_rows: int = 101) -> list[str]:
    """Lecture 2's table (each value with its loss) for one parameter and up to max_rows points,
    else the top-k; then the best point."""
    loss = result.meta.get("loss", "loss").upper() if result.meta.get("loss") == "mse" else result.meta.get("loss")
    lines = []
    if result.axes is not None and len(result.names) == 1 and len(result.axes[0]) <= max_rows:
        name = result.names[0]
        for v, l in zip(result.axes[0].tolist(), result.losses.tolist()):
            lines.append(f"{name} = {v!r:<22} {loss} = {l!r}")
    else:
        width = max(len(n) for n in result.names)
        lines.append(f"the {min(top, result.meta.get('evaluated', 0))} best of {result.meta.get('total')} points:")
        for rank, (point, l) in enumerate(result.top(top), 1):
            cells = "  ".join(f"{n:>{width}} = {v:<12.6g}" for n, v in point.items())
            lines.append(f"{rank:>4}. {cells}  {loss} = {l:.6g}")
    point, best = result.best()
    lines.append("best: " + ", ".join(f"{n} = {v!r}" for n, v in point.items()) + f"  {loss} = {best!r}")
    m = result.meta
    lines.append(f"{m.get('evaluated')} of {m.get('total')} points by {m.get('method')} in {m.get('seconds', 0):.3g} s"
                 + ("  (interrupted: partial result)" if m.get("partial") else ""))
    return lines


# -- points given directly (the landscape's surfaces and paths) -------------------------------

def evaluate_points(net: nn.Module, names: Sequence[str], points: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                    loss_fn: Callable, *, loss_name: str = "", max_memory_mb: float = 256.0) -> torch.Tensor:
    """The loss at each of `points` (P, D): column j is the value of scalar `names[j]`; the other
    parameters keep the model's current values. Sufficient statistics for linear + mse, else vmap."""
    coords = resolve(net, names)
    base = {k: v.detach() for k, v in net.named_parameters()}
    if isinstance(net, (Linear, LinearNoBias)) and loss_name == "mse":
        evaluate, chunk = _statistics_evaluator(net, coords, base, x, y), 1 << 16
    else:
        evaluate = _vmap_evaluator(net, coords, base, x, y, loss_fn, compiled=False)
        chunk = chunk_size(net, x, coords, max_memory_mb)
    out = torch.empty(points.shape[0], dtype=torch.float64)                 # (P,)
    for start in range(0, points.shape[0], chunk):
        out[start:start + chunk] = evaluate(points[start:start + chunk].double(), chunk).double()
    return out
