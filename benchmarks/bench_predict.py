"""Predict speed: `Run.predict` on 50,000 x 10 rows against the bare model call, side by side.

A run is trained once (an MLP 10-32-1 on synthetic regression data, one epoch); then, in
alternating repetitions:

  - bare:       `model(x)` under `torch.no_grad()`, the trained module already in memory;
  - tensor:     `run.predict(x)` with x a float32 tensor (the loaded model is kept between calls);
  - numpy:      `run.predict(x.numpy())`;
  - first call: a new `Run` object's first `predict` (loads the checkpoint), for reference.

The target (issue 13): tensor input <= 3x bare. Figures are medians of the per-repetition
ratios, with their range, and the load average at the start and the end.

    python benchmarks/bench_predict.py [--reps 15] [--rows 50000] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch

import learnsys


def timed(fn, inner: int) -> float:
    """Seconds per call, the best of `inner` calls (a call is a few ms: the best is its cost)."""
    best = float("inf")
    for _ in range(inner):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--inner", type=int, default=5)
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default); 1 is steadier "
                    "on a shared machine, where a 2-thread matmul waits for the busier core")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"load at start: {os.getloadavg()[0]:.2f}  torch {torch.__version__}  threads {torch.get_num_threads()}")

    g = torch.Generator().manual_seed(0)
    x_train = torch.randn(2000, 10, generator=g)                                     # (N, 10)
    y_train = x_train @ torch.randn(10, 1, generator=g) + 0.1 * torch.randn(2000, 1, generator=g)
    x = torch.randn(args.rows, 10, generator=g)                                      # (rows, 10)
    with tempfile.TemporaryDirectory() as tmp:
        run = learnsys.fit("mlp:32", (x_train, y_train), runs_dir=tmp, epochs=1, batch_size=64, quiet=True)
        model = run.predictor().model
        model.eval()
        with torch.no_grad():
            expected = model(x)
        assert torch.equal(run.predict(x), expected), "run.predict must give the model's own outputs"
        xn = x.numpy()

        def bare():
            with torch.no_grad():
                model(x)

        ratios: dict[str, list[float]] = {"tensor": [], "numpy": []}
        seconds: dict[str, list[float]] = {"bare": [], "tensor": [], "numpy": [], "first call": []}
        for _ in range(args.reps):  # contenders alternate: load from elsewhere hits all alike
            b = timed(bare, args.inner)
            t = timed(lambda: run.predict(x), args.inner)
            n = timed(lambda: run.predict(xn), args.inner)
            f = timed(lambda: learnsys.load_run(run.run_id, runs_dir=tmp).predict(x), 1)
            for k, v in (("bare", b), ("tensor", t), ("numpy", n), ("first call", f)):
                seconds[k].append(v)
            ratios["tensor"].append(t / b)
            ratios["numpy"].append(n / b)

    print(f"{args.rows:,} x 10 rows, {args.reps} repetitions (median [range]):")
    for k, v in seconds.items():
        print(f"  {k:<11} {statistics.median(v) * 1e3:8.2f} ms  [{min(v) * 1e3:.2f} - {max(v) * 1e3:.2f}]")
    for k, v in ratios.items():
        print(f"  {k} / bare: {statistics.median(v):.2f}x  [{min(v):.2f} - {max(v):.2f}]   (target <= 3x)")
    print(f"load at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
