"""Exhaustive search benchmark: 1,000 × 1,000 = 1,000,000 (w, b) points × 1,000 data points,
`linear` + MSE, measured side by side in one process:

  - the lecture's Python loop (for w, for b, for x, y), timed on a slice and extrapolated;
  - learnsys eager (`--method vmap`: for `linear` the affine path, one matmul per chunk),
    compiled (`--compile`) and sufficient statistics;
  - the hand-written references for the same evaluation on the same machine: a chunked in-place
    eager loop (mul, add, sub, square, mean into one reused buffer) and a `torch.compile` of
    ((w·x + b − y)²).mean() over chunks; each at its best chunk size, timed from the grid's axes
    (their meshgrid of points included, as learnsys's time includes making its points);
  - the machine's float32 matmul rate as the yardstick (compare ratios across machines).

The targets are ratios to the references (issue 14): eager ≤ 1.5×, compiled ≤ 1.2×.

    python benchmarks/bench_search.py [--repeats 3] [--json out.json]

Each learnsys figure is the best of `repeats` runs of the evaluation (`meta['seconds']`: from
the first grid point to the last, after the data and model are loaded); the compiled path is
warmed up first, so compilation is reported separately.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

from learnsys.data import DataSet
from learnsys.lectures.search import search

N_DATA, N_W, N_B = 1000, 1000, 1000


def data() -> DataSet:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N_DATA, 1, generator=g)                                 # (N, 1)
    y = 3 * x + 0.5 + 0.1 * torch.randn(N_DATA, 1, generator=g)             # (N, 1)
    return DataSet(x, y, ["x"], ["y"], 0, "bench")


def grid() -> dict[str, torch.Tensor]:
    return {"w": torch.linspace(-5, 5, N_W, dtype=torch.float64), "b": torch.linspace(-5, 5, N_B, dtype=torch.float64)}


def lecture_loop(ds: DataSet, n_points: int) -> float:
    """Lecture 2's loop on Python floats, for the first n_points grid points; seconds."""
    xs, ys = ds.x[:, 0].tolist(), ds.y[:, 0].tolist()
    ws, bs = grid()["w"].tolist(), grid()["b"].tolist()
    t0 = time.perf_counter()
    done = 0
    for w in ws:
        for b in bs:
            l_sum = 0
            for x_val, y_val in zip(xs, ys):
                y_pred = x_val * w + b
                l_sum += (y_pred - y_val) * (y_pred - y_val)
            _ = l_sum / len(xs)
            done += 1
            if done == n_points:
                return time.perf_counter() - t0
    return time.perf_counter() - t0


def _grid_points() -> tuple[torch.Tensor, torch.Tensor]:
    """(w, b) of every grid point, w the slow axis (as the search orders them): (P,), (P,) float32."""
    w, b = torch.meshgrid(grid()["w"].float(), grid()["b"].float(), indexing="ij")
    return w.reshape(-1), b.reshape(-1)


def handwritten_eager(ds: DataSet, chunk: int) -> float:
    """The loss at every grid point by hand: chunks of points, in place in one buffer; seconds."""
    x, y = ds.x[:, 0], ds.y[:, 0]                                           # (N,), (N,)
    t0 = time.perf_counter()   # from the grid's axes, as learnsys's time runs from its first point
    w, b = _grid_points()
    out, buf = torch.empty(w.numel()), torch.empty(chunk, x.numel())       # (P,), (C, N)
    for s in range(0, w.numel(), chunk):
        r = buf[:min(chunk, w.numel() - s)]
        torch.mul(w[s:s + chunk, None], x[None, :], out=r)
        r.add_(b[s:s + chunk, None]).sub_(y[None, :]).square_()
        torch.mean(r, 1, out=out[s:s + chunk])
    return time.perf_counter() - t0


def handwritten_compiled(ds: DataSet, chunk: int, repeats: int) -> float:
    """The same through torch.compile (one fused kernel per chunk); best of `repeats`, after a warm-up."""
    x, y = ds.x[:, 0], ds.y[:, 0]

    @torch.compile(dynamic=False)
    def losses(w, b):
        return ((w[:, None] * x[None, :] + b[:, None] - y[None, :]) ** 2).mean(1)   # (C,)

    def once() -> float:
        t0 = time.perf_counter()
        w, b = _grid_points()
        out = torch.empty(w.numel())
        for s in range(0, w.numel(), chunk):
            out[s:s + chunk] = losses(w[s:s + chunk], b[s:s + chunk])
        return time.perf_counter() - t0

    once()
    return min(once() for _ in range(repeats))


def best_of(repeats: int, **kw) -> tuple[float, dict]:
    times, result = [], None
    for _ in range(repeats):
        result = search("linear", data(), grid(), **kw)
        times.append(result.meta["seconds"])
    return min(times), result.meta


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slice", type=int, default=2000, help="grid points the Python loop is timed on")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    ds = data()
    points = N_W * N_B
    out = {"machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                       "processor": platform.processor() or platform.machine(),
                       "load_average": os.getloadavg()[0]},
           "points": points, "data_points": N_DATA}
    out["matmul_gflops"] = matmul_gflops()
    loop = lecture_loop(ds, args.slice)
    out["python_loop_s"] = loop * points / args.slice
    out["python_loop_measured"] = {"points": args.slice, "seconds": loop}
    # contenders alternate within each repeat: references first, then learnsys
    ref_chunks = {c: [] for c in (256, 512, 1024, 4096)}
    eager = []
    for _ in range(args.repeats):
        for c in ref_chunks:
            ref_chunks[c].append(handwritten_eager(ds, c))
        s, meta = best_of(1, method="vmap")
        eager.append(s)
    best_chunk = min(ref_chunks, key=lambda c: min(ref_chunks[c]))
    out["handwritten_eager_s"], out["handwritten_eager_chunk"] = min(ref_chunks[best_chunk]), best_chunk
    out["eager_s"], out["eager_chunk"], out["eager_path"] = min(eager), meta["chunk"], meta.get("path", "vmap")
    t0 = time.perf_counter()
    search("linear", ds, grid(), method="compiled")
    out["compile_first_call_s"] = time.perf_counter() - t0
    compiled_refs = {c: handwritten_compiled(ds, c, args.repeats) for c in (16384, 65536, 131072, 262144)}
    best_c = min(compiled_refs, key=compiled_refs.get)
    out["handwritten_compiled_s"], out["handwritten_compiled_chunk"] = compiled_refs[best_c], best_c
    out["compiled_s"], _ = best_of(args.repeats, method="compiled")
    out["statistics_s"], _ = best_of(max(args.repeats, 10), method="statistics")
    out["eager_vs_handwritten"] = out["eager_s"] / out["handwritten_eager_s"]
    out["compiled_vs_handwritten"] = out["compiled_s"] / out["handwritten_compiled_s"]
    out["machine"]["load_average_end"] = os.getloadavg()[0]
    flops = 4.0 * points * N_DATA  # per point and row: x·w + b (2), − y, square (1), sum (1) ≈ 4 flops
    for key in ("eager", "compiled", "statistics"):
        out[f"{key}_gflops_equivalent"] = flops / out[f"{key}_s"] / 1e9
        out[f"{key}_speedup_vs_loop"] = out["python_loop_s"] / out[f"{key}_s"]
    print(f"machine: {out['machine']}")
    print(f"matmul yardstick: {out['matmul_gflops']:.1f} GFLOP/s (float32, 2048²)")
    print(f"{'path':<24}{'time':>12}{'vs loop':>12}{'GFLOP/s eq.':>14}")
    print(f"{'lecture Python loop':<24}{out['python_loop_s']:>11.1f}s{1:>12.0f}x{'':>14}  (from {args.slice} points)")
    for key, label in (("eager", f"eager ({out['eager_path']})"), ("compiled", "compiled"),
                       ("statistics", "sufficient statistics")):
        s = out[f"{key}_s"]
        print(f"{label:<24}{s * 1e3:>10.2f}ms{out[f'{key}_speedup_vs_loop']:>11.0f}x"
              f"{out[f'{key}_gflops_equivalent']:>14.1f}")
    print(f"hand-written eager, chunk {out['handwritten_eager_chunk']}: {out['handwritten_eager_s'] * 1e3:.1f} ms; "
          f"learnsys eager / hand-written = {out['eager_vs_handwritten']:.2f}x (target <= 1.5x)")
    print(f"hand-written torch.compile, chunk {out['handwritten_compiled_chunk']}: "
          f"{out['handwritten_compiled_s'] * 1e3:.1f} ms; learnsys compiled / hand-written = "
          f"{out['compiled_vs_handwritten']:.2f}x (target <= 1.2x)")
    print(f"load average: {out['machine']['load_average']:.2f} at the start, "
          f"{out['machine']['load_average_end']:.2f} at the end")
    print(f"compile (first call, incl. compilation): {out['compile_first_call_s']:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
