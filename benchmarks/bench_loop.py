"""Loop speed: learnsys's fit against plain PyTorch loops, measured side by side in one run.

1. Lecture 5 workload: 1000 full-batch steps on the lecture data. The plain loop is the
   listing without its per-step print; learnsys runs with the run store on (metrics,
   parameter paths, log file, checkpoint) and the console quiet. Reported per step, over
   the loop (on_fit_start .. the final checkpoint) and over the whole fit() call.
2. Tabular: 200,000 x 32 regression, MLP 32-64-1, Adam, batch 64, one epoch:
   DataLoader(TensorDataset, shuffle=True) vs a randperm+index loop vs learnsys.

Repetitions alternate between the contenders so that load from elsewhere hits all alike;
the figure is the median of the per-pair ratios (and the best times).

    python benchmarks/bench_loop.py [--reps 15] [--tabular-reps 3] [--skip-tabular] [--threads 1] [--device cuda]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

import learnsys
from learnsys.train.callbacks import Callback

DEVICE = torch.device("cpu")   # --device: where every contender runs


def sync() -> None:
    """Wait for the device (on a GPU a loop's time is its kernels', not their launches')."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


class LoopTimer(Callback):
    """Times the loop's steps: from on_fit_start to the last step's metrics reaching the sinks
    (the final checkpoint and the store's durability barrier before it are not steps; the
    whole fit() call, which includes them and all set-up, is reported beside)."""

    def on_fit_start(self, trainer, logs):
        self.start = time.perf_counter()
        self.end = None

    def on_metrics(self, trainer, logs):
        if trainer.progress.step == trainer.total_steps and self.end is None:
            self.end = time.perf_counter()

    @property
    def seconds(self) -> float:
        return self.end - self.start


def plain_lecture5(steps: int) -> float:
    torch.manual_seed(0)
    x_data = torch.tensor([[1.0], [2.0], [3.0]], device=DEVICE)
    y_data = torch.tensor([[2.0], [4.0], [6.0]], device=DEVICE)

    class LinearModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(1, 1)

        def forward(self, x):
            return self.linear(x)

    model = LinearModel().to(DEVICE)
    criterion = torch.nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        y_pred = model(x_data)
        loss = criterion(y_pred, y_data)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    sync()
    return time.perf_counter() - start


def learnsys_lecture5(steps: int, runs_dir: str) -> tuple[float, float]:
    timer = LoopTimer()
    start = time.perf_counter()
    learnsys.fit("linear", "lecture", epochs=steps, runs_dir=runs_dir, callbacks=[timer], quiet=True,
                 device=str(DEVICE))
    return timer.seconds, time.perf_counter() - start


def bench_lecture(reps: int) -> dict:
    runs_dir = tempfile.mkdtemp(prefix="bench-loop-")
    for _ in range(3):  # warm-up: imports, allocator, SQLite file
        plain_lecture5(1000)
        learnsys_lecture5(1000, runs_dir)
    plain, loop, whole = [], [], []
    for _ in range(reps):
        plain.append(plain_lecture5(1000))
        a, b = learnsys_lecture5(1000, runs_dir)
        loop.append(a)
        whole.append(b)
    ratios = [b / a for a, b in zip(plain, loop)]
    return {"plain_us": min(plain) * 1e3, "learnsys_us": min(loop) * 1e3, "fit_ms": min(whole) * 1e3,
            "ratio_median": statistics.median(ratios), "ratio_best": min(loop) / min(plain)}


def make_tabular(n: int = 200_000, f: int = 32):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, f, generator=g)
    y = x @ torch.randn(f, 1, generator=g) + 0.1 * torch.randn(n, 1, generator=g)
    return x, y


def mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))


def tabular_dataloader(x, y) -> float:
    model, loss_fn = mlp().to(DEVICE), torch.nn.MSELoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64, shuffle=True)
    sync()
    start = time.perf_counter()
    for xb, yb in loader:
        loss = loss_fn(model(xb.to(DEVICE)), yb.to(DEVICE))
        opt.zero_grad()
        loss.backward()
        opt.step()
    sync()
    return time.perf_counter() - start


def tabular_randperm(x, y) -> float:
    model, loss_fn = mlp().to(DEVICE), torch.nn.MSELoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = x.to(DEVICE), y.to(DEVICE)
    sync()
    start = time.perf_counter()
    order = torch.randperm(x.shape[0], device=DEVICE)
    for i in range(0, x.shape[0], 64):
        idx = order[i:i + 64]
        loss = loss_fn(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    sync()
    return time.perf_counter() - start


def tabular_learnsys(x, y, runs_dir: str) -> float:
    # "mlp:64" with seed 0 is the same network as mlp() above, with the same initial weights
    timer = LoopTimer()
    learnsys.fit("mlp:64", (x, y), optimizer="adam", lr=1e-3, batch_size=64, epochs=1, seed=0,
                 runs_dir=runs_dir, callbacks=[timer], quiet=True, device=str(DEVICE))
    return timer.seconds


def bench_tabular(reps: int) -> dict:
    runs_dir = tempfile.mkdtemp(prefix="bench-tab-")
    x, y = make_tabular()
    tabular_dataloader(x, y)
    tabular_randperm(x, y)
    tabular_learnsys(x, y, runs_dir)
    dl, rp, ls = [], [], []
    for _ in range(reps):
        dl.append(tabular_dataloader(x, y))
        rp.append(tabular_randperm(x, y))
        ls.append(tabular_learnsys(x, y, runs_dir))
    return {"dataloader_s": min(dl), "randperm_s": min(rp), "learnsys_s": min(ls),
            "speedup_vs_dataloader": statistics.median(a / c for a, c in zip(dl, ls)),
            "speed_vs_randperm": statistics.median(b / c for b, c in zip(rp, ls))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--tabular-reps", type=int, default=3)
    parser.add_argument("--skip-tabular", action="store_true")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads for every contender (default 1: steadier on a shared machine)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda: where every contender runs")
    args = parser.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {DEVICE}")
    r = bench_lecture(args.reps)
    print(f"lecture 5, 1000 full-batch steps: plain {r['plain_us']:.1f} us/step, learnsys loop "
          f"{r['learnsys_us']:.1f} us/step (whole fit() {r['fit_ms']:.1f} ms); learnsys/plain per step: "
          f"median {r['ratio_median']:.3f}x, best-vs-best {r['ratio_best']:.3f}x (target <= 1.05x)")
    if not args.skip_tabular:
        t = bench_tabular(args.tabular_reps)
        print(f"tabular 200k x 32, MLP 32-64-1, Adam, batch 64, 1 epoch: DataLoader {t['dataloader_s']:.2f} s, "
              f"randperm {t['randperm_s']:.2f} s, learnsys {t['learnsys_s']:.2f} s; learnsys speed-up vs DataLoader "
              f"{t['speedup_vs_dataloader']:.2f}x (target >= 1.65x), vs randperm {t['speed_vs_randperm']:.3f}x "
              "(target >= 0.97x)")


if __name__ == "__main__":
    main()
