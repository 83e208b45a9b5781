"""Exhaustive search (lecture 2): the loss at every point of a grid of parameter values.

    result = search("linear-nobias", "lecture", grid={"w": axis("0:4:0.1")})
    result.best()            # ({'w': 2.0}, 0.0)
    result.losses            # (P,) one loss per grid point, the last axis fastest
    run_id = store_search(result, "runs")   # a run of kind 'search' + the 'search' artifact

Parameters are named by the one naming rule of `models.resolve_names` (`w`, `w1`, `b`,
`linear.weight[0,0]`; `w`/`b` for a one-input, one-output `linear`), as `--init` names them.
Parameters not in the grid keep their seeded (or `init`) values.

The model, data and loss are assembled as training assembles them (`assembly.assemble`).
Three ways to evaluate (`lectures/grid.py`), same numbers up to rounding: `vmap` (any model
and loss, chunked by `max_memory_mb`), `compiled` (the same through `torch.compile`), and
`statistics` (linear + MSE: sufficient statistics, a few flops per point).
Ctrl-C stops the search and keeps what was evaluated (`partial=True`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from ..assembly import assemble, spec_and_objects
from ..data import DataSet
from ..errors import SearchError
from ..json_floats import finite_json
from ..models import Linear, LinearNoBias
from ..spec import RunSpec
from .affine import affine_evaluator, is_affine
from .grid import chunk_size, one_feature_one_target, resolve, statistics_evaluator, statistics_product, vmap_evaluator

METHODS = ("auto", "vmap", "compiled", "statistics")
MAX_POINTS = 100_000_000      # losses are kept as float64: 800 MB at this size
MAX_STORED_CELLS = 40_000      # the artifact keeps at most this many loss values (stride-sampled)
STORED_TOP = 100


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


# -- the result ------------------------------------------------------------------------------

@dataclass
class SearchResult:
    names: list[str]                    # grid parameter names, one per axis / point column
    axes: list[torch.Tensor] | None     # product grid: one (n_i,) float64 tensor per name; None when sampled
    samples: torch.Tensor | None        # sampled grid: (P, D) float64 points
    losses: torch.Tensor                # (P,) float64, NaN where not evaluated (Ctrl-C)
    fixed: dict[str, list]              # every parameter outside the grid, as nested lists
    meta: dict = field(default_factory=dict)   # data, model, loss, method, seconds, evaluated, partial, ...
    spec: RunSpec | None = None                 # the spec the model and data were assembled from

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
            out["losses"] = finite_json(grid.tolist())
        return out


def _product_points(axes: list[torch.Tensor], start: int, stop: int) -> torch.Tensor:
    """Points start..stop of the product grid, (P, D). Axis j holds each value for a run of
    stride_j points (the product of the later axes' sizes): a few runs are filled one by one, many
    are one expanded copy; no per-point division (it was most of a compiled search's overhead)."""
    out = torch.empty(stop - start, len(axes), dtype=axes[0].dtype)          # (P, D)
    stride = 1
    for j in reversed(range(len(axes))):
        a, n = axes[j], len(axes[j])
        q0, q1 = start // stride, (stop - 1) // stride                      # the runs the chunk touches
        runs = q1 - q0 + 1
        values = a.roll(-(q0 % n)).repeat(-(-runs // n))[:runs]             # a[q % n] for q0..q1, (runs,)
        if q1 - q0 < 4:
            for i, q in enumerate(range(q0, q1 + 1)):
                out[max(start, q * stride) - start:min(stop, (q + 1) * stride) - start, j] = values[i]
        else:
            off = start - q0 * stride
            out[:, j] = values[:, None].expand(-1, stride).reshape(-1)[off:off + stop - start]
        stride *= n
    return out


def _strides(shape: tuple[int, ...], max_cells: int) -> list[int]:
    strides = [1] * len(shape)
    while math.prod(math.ceil(n / s) for n, s in zip(shape, strides)) > max_cells:
        i = max(range(len(shape)), key=lambda j: math.ceil(shape[j] / strides[j]))
        strides[i] += 1
    return strides


# -- the search ------------------------------------------------------------------------------

def search(model: str | nn.Module = "linear-nobias", data: str | DataSet | tuple = "lecture",
           grid: dict[str, Sequence[float] | torch.Tensor] | None = None, *, samples: int = 0,
           method: str = "auto", max_memory_mb: float = 256.0, dtype: torch.dtype = torch.float32,
           on_progress: Callable[[int, int], None] | None = None, **spec_fields) -> SearchResult:
    """Evaluate the loss at every grid point (or at `samples` random points in the grid's box).

    `model` and `data` are what `learnsys.fit` takes (names, an nn.Module, a DataSet or arrays);
    `spec_fields` are RunSpec fields (seed, init, loss, model_args, data_args, target, ...): the
    model and data are assembled exactly as training assembles them. `on_progress(done, total)`
    is called after each chunk."""
    if not grid:
        raise SearchError("Give at least one --grid name=start:stop:step, e.g. --grid w=0:4:0.1.")
    if method not in METHODS:
        raise SearchError(f"Unknown search method {method!r}; use one of {', '.join(METHODS)}.")
    if not (isinstance(max_memory_mb, (int, float)) and max_memory_mb > 0):
        raise SearchError(f"--max-memory {max_memory_mb!r} must be a positive number of megabytes.")
    spec, objects, _ = spec_and_objects(model, data, spec_fields)
    parts = assemble(spec, objects, dtype=dtype)
    model_name, loss_name, seed = spec.model, parts.loss_name, spec.seed
    net, (x, y), ds, loss_fn = parts.model, parts.train, parts.data, parts.loss_fn   # (N, F), (N, T) or (N,)
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
                           "total": total, "dtype": str(dtype).replace("torch.", "")}, spec)

    use_stats = isinstance(net, (Linear, LinearNoBias)) and loss_name == "mse"
    if method == "statistics" and not use_stats:
        raise SearchError(f"--method statistics needs a linear or linear-nobias model with mse loss, "
                          f"not {model_name} with {loss_name}; use --method vmap.")
    method = "statistics" if method == "auto" and use_stats else "vmap" if method == "auto" else method
    t0 = time.perf_counter()
    if method == "statistics":
        evaluate = statistics_evaluator(net, coords, base, x, y)
        per_point = 8 * 4 * (8 + sum(p.numel() for p in base.values()))   # float64 W, W·Sxx, b, sums
        chunk = max(1, int(max_memory_mb * 2**20 // per_point))
    elif is_affine(net, x, y):  # one matmul per chunk (lectures/affine.py)
        evaluate, chunk = affine_evaluator(net, coords, base, x, y, loss_fn, mse=loss_name == "mse",
                                           compiled=method == "compiled", max_memory_mb=max_memory_mb,
                                           total=total)
        result.meta["path"] = "affine"
    else:
        evaluate = vmap_evaluator(net, coords, base, x, y, loss_fn, compiled=method == "compiled")
        chunk = chunk_size(net, x, coords, max_memory_mb)
        if method == "compiled":  # fused: the loss's temporaries are never materialised, the x3 margin is free
            chunk *= 3
    done = 0
    try:
        if method == "statistics" and axes is not None and one_feature_one_target(net):
            statistics_product(net, coords, base, x, y, axes, out=result.losses)   # no chunks
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


# -- storing ---------------------------------------------------------------------------------

def store_search(result: SearchResult, runs_dir: str | Path, extra: dict | None = None,
                 run_id: str | None = None) -> str:
    """Store the search as a run of kind 'search': a run folder (spec.toml: the model, data and
    loss searched; meta.json: kind, grid and the best point), a row in the run store and the
    'search' artifact. Returns the run id."""
    from ..runfolder import RunFolder, check_writable, new_run_id
    from ..store import RunStore

    runs_dir = Path(runs_dir)
    check_writable(runs_dir)
    spec = result.spec.replace(run_id="") if result.spec is not None else None
    run_id = run_id or new_run_id(f"search-{result.meta.get('model', '')}")
    best_point, best_loss = result.best()
    meta = {"kind": "search", "params": result.names, "fixed": result.fixed, "best": best_point,
            "best_loss": finite_json(best_loss), **{k: result.meta.get(k) for k in ("data", "model", "loss", "total")},
            **(extra or {})}
    folder = RunFolder.create(runs_dir, run_id, spec, meta)
    store = RunStore(folder.store_path)
    try:
        best = ", ".join(f"{n} = {v:.6g}" for n, v in best_point.items())
        store.update_run(run_id, status="stopped" if result.meta.get("partial") else "finished",
                         total_steps=result.meta["total"], step=result.meta.get("evaluated", 0),
                         message=f"best {best}, loss {best_loss:.6g}")
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
