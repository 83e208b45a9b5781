"""Exhaustive search benchmark: 1,000 × 1,000 = 1,000,000 (w, b) points × 1,000 data points,
`linear` + MSE, measured side by side in one process:

  - the lecture's Python loop (for w, for b, for x, y), timed on a slice and extrapolated;
  - learnsys generic eager (`--method vmap`), compiled (`--compile`) and sufficient statistics;
  - the machine's float32 matmul rate as the yardstick (compare ratios across machines).

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
    for mem in (8, 32, 128):
        s, meta = best_of(args.repeats, method="vmap", max_memory_mb=mem)
        out.setdefault("eager_by_memory", {})[mem] = {"seconds": s, "chunk": meta["chunk"]}
    best_mem = min(out["eager_by_memory"], key=lambda m: out["eager_by_memory"][m]["seconds"])
    out["eager_s"] = out["eager_by_memory"][best_mem]["seconds"]
    out["eager_max_memory_mb"] = best_mem
    t0 = time.perf_counter()
    search("linear", ds, grid(), method="compiled", max_memory_mb=best_mem)
    out["compile_first_call_s"] = time.perf_counter() - t0
    out["compiled_s"], _ = best_of(args.repeats, method="compiled", max_memory_mb=best_mem)
    out["statistics_s"], _ = best_of(max(args.repeats, 10), method="statistics")
    flops = 4.0 * points * N_DATA  # per point and row: x·w + b (2), − y, square (1), sum (1) ≈ 4 flops
    for key in ("eager", "compiled", "statistics"):
        out[f"{key}_gflops_equivalent"] = flops / out[f"{key}_s"] / 1e9
        out[f"{key}_speedup_vs_loop"] = out["python_loop_s"] / out[f"{key}_s"]
    print(f"machine: {out['machine']}")
    print(f"matmul yardstick: {out['matmul_gflops']:.1f} GFLOP/s (float32, 2048²)")
    print(f"{'path':<24}{'time':>12}{'vs loop':>12}{'GFLOP/s eq.':>14}")
    print(f"{'lecture Python loop':<24}{out['python_loop_s']:>11.1f}s{1:>12.0f}x{'':>14}  (from {args.slice} points)")
    for key, label in (("eager", f"generic eager ({best_mem} MB)"), ("compiled", "compiled"),
                       ("statistics", "sufficient statistics")):
        s = out[f"{key}_s"]
        print(f"{label:<24}{s * 1e3:>10.2f}ms{out[f'{key}_speedup_vs_loop']:>11.0f}x"
              f"{out[f'{key}_gflops_equivalent']:>14.1f}")
    print(f"compile (first call, incl. compilation): {out['compile_first_call_s']:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
