"""Landscape benchmark: a 51×51 filter-normalised plane for an MLP with ~10k parameters
(mlp:96,96 on 10 features: 10,465) on 10,000 samples, and the slowdown of a training run
while that plane is computed in the background (`BackgroundLandscape`'s way: a separate
process, one thread, nice 19).

    python benchmarks/bench_landscape.py [--resolution 51] [--train-steps 3000] [--json out.json]

1. Time of the plane in this process (all threads) and in a one-thread niced process.
2. Training steps per second (Adam, batch 64, the same MLP and data) alone, then with the
   background process running, alternated A B A B so drift hits both; the slowdown is the
   ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import learnsys
from learnsys.data import load_data
from learnsys.lectures.planes import plane_landscapes
from learnsys.models import build_model

DATA = {"size": 10_000, "features": 10}
MODEL = "mlp:96,96"


def train_rate(steps: int) -> float:
    """Steps per second of a plain training loop (Adam, batch 64) on the benchmark data."""
    ds = load_data("synthetic-linear", data_args=DATA)
    torch.manual_seed(0)
    model = build_model(MODEL, 10, 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.MSELoss()
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(ds.n_rows, generator=g)
    t0 = time.perf_counter()
    for step in range(steps):
        idx = order[(step * 64) % (ds.n_rows - 64):][:64]
        loss = loss_fn(model(ds.x[idx]), ds.y[idx])                         # (64, 1) vs (64, 1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - t0)


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=51)
    parser.add_argument("--train-steps", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    out = {"machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                       "load_average": os.getloadavg()[0]}, "resolution": args.resolution}

    runs = Path(tempfile.mkdtemp()) / "runs"
    learnsys.fit(MODEL, "synthetic-linear", runs_dir=runs, run_id="bench", data_args=DATA, epochs=1, batch_size=64,
                 optimizer="adam", lr=1e-3, quiet=True)
    ds = load_data("synthetic-linear", data_args=DATA)
    torch.manual_seed(0)
    model = build_model(MODEL, 10, 1)
    out["n_parameters"] = sum(p.numel() for p in model.parameters())
    t0 = time.perf_counter()
    plane_landscapes(model, ds.x, ds.y, torch.nn.MSELoss(), resolution=args.resolution)
    out["plane_in_process_s"] = time.perf_counter() - t0

    cmd = [sys.executable, "-m", "learnsys", "landscape", "bench", "--runs-dir", str(runs), "--resolution",
           str(args.resolution), "--threads", "1", "--nice", "19", "--json"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    out["plane_background_alone_s"] = time.perf_counter() - t0

    train_rate(200)  # warm up
    alone, beside = [], []
    for _ in range(args.rounds):
        alone.append(train_rate(args.train_steps))
        bg = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        time.sleep(1.0)  # let it load and start computing
        beside.append(train_rate(args.train_steps))
        bg.kill()
        bg.wait()
    out["train_steps_per_s_alone"] = alone
    out["train_steps_per_s_with_background"] = beside
    out["slowdown"] = statistics.median(alone) / statistics.median(beside)
    print(f"machine: {out['machine']}")
    print(f"{args.resolution}x{args.resolution} plane, {out['n_parameters']} parameters, 10,000 samples: "
          f"{out['plane_in_process_s']:.1f} s in process (all threads), "
          f"{out['plane_background_alone_s']:.1f} s as a one-thread niced process")
    print(f"training alone: {statistics.median(alone):.0f} steps/s; with the plane in the background: "
          f"{statistics.median(beside):.0f} steps/s; slowdown {100 * (out['slowdown'] - 1):.1f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
