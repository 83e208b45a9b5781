"""The DataLoader path against a plain DataLoader loop, measured side by side in one run.

1. A lazy map-style Dataset (each item is made in __getitem__, as a decoded file would be):
   learnsys's loader feed vs a plain `DataLoader(ds, batch_size, shuffle=True)` loop with the
   same number of workers, an MLP and Adam, `--epochs` epochs (default 3); time per epoch
   (target: learnsys <= 1.03x), reported for the first epoch (a run's start-up inside it: the
   sinks, the model's start checkpoint) and for the later ones (steady state).
2. The digits-shaped CNN (1x8x8 images, 10 classes, conv-relu-pool x2 + linear, Adam):
   samples per second, learnsys (memory feed) vs a plain randperm+index loop.

Repetitions alternate between the contenders; figures are medians with the spread.

    python benchmarks/bench_dataloader.py [--reps 5] [--workers 0 2] [--rows 20000] [--threads 1] [--device cuda]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch
from torch import nn

import learnsys
from learnsys.train.callbacks import Callback

DEVICE = torch.device("cpu")   # --device: where every contender trains


def sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


class LazyRows(torch.utils.data.Dataset):
    """Items made on request from a seed: a float row and its target (about a file decode's work)."""

    def __init__(self, n: int, features: int = 32):
        self.n, self.features = n, features
        g = torch.Generator().manual_seed(0)
        self.w = torch.randn(features, 1, generator=g)

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        x = torch.randn(self.features, generator=g)
        return x, x @ self.w[:, 0:1].reshape(-1) + 0.5


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 1))


class EpochTimer(Callback):
    """Each epoch's seconds, the first from on_fit_start (start-up included)."""

    def on_fit_start(self, trainer, logs):
        self.last, self.epochs = time.perf_counter(), []

    def on_epoch_end(self, trainer, logs):
        now = time.perf_counter()
        self.epochs.append(now - self.last)
        self.last = now

    @property
    def seconds(self) -> float:
        return sum(self.epochs)


def plain_epochs(ds, workers: int, batch: int, epochs: int = 1) -> list[float]:
    """Seconds of each epoch of the plain loop."""
    torch.manual_seed(0)
    model = mlp().to(DEVICE)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers,
                                         persistent_workers=workers > 0)
    out = []
    for _ in range(epochs):
        start = time.perf_counter()
        for xb, yb in loader:
            loss = nn.functional.mse_loss(model(xb.to(DEVICE)), yb[:, None].to(DEVICE))
            opt.zero_grad()
            loss.backward()
            opt.step()
        sync()
        out.append(time.perf_counter() - start)
    return out


def learnsys_epochs(ds, workers: int, batch: int, runs_dir: str, epochs: int = 1) -> list[float]:
    torch.manual_seed(0)
    timer = EpochTimer()
    learnsys.fit(mlp(), ds, optimizer="adam", lr=1e-3, batch_size=batch, epochs=epochs, workers=workers,
                 runs_dir=runs_dir, callbacks=[timer], checkpoint_every=10**9, device=str(DEVICE))
    return timer.epochs


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(32 * 2 * 2, 10)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def digits_like(n: int):
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (n,), generator=g)
    return torch.randn(n, 1, 8, 8, generator=g) + y[:, None, None, None] / 5, y


def plain_cnn(x, y, batch: int) -> float:
    torch.manual_seed(0)
    model = TinyCNN().to(DEVICE)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = x.to(DEVICE), y.to(DEVICE)
    sync()
    start = time.perf_counter()
    perm = torch.randperm(len(x), device=DEVICE)
    for b in range(0, len(x), batch):
        idx = perm[b:b + batch]
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    sync()
    return len(x) / (time.perf_counter() - start)


def learnsys_cnn(x, y, batch: int, runs_dir: str) -> float:
    torch.manual_seed(0)
    timer = EpochTimer()
    learnsys.fit(TinyCNN(), (x, y), optimizer="adam", lr=1e-3, batch_size=batch, epochs=1, runs_dir=runs_dir,
                 callbacks=[timer], checkpoint_every=10**9, device=str(DEVICE))
    return len(x) / timer.seconds


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.4g} (min {min(values):.4g}, max {max(values):.4g})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=3, help="epochs per run of the Dataset workload (>= 2)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    torch.set_num_threads(args.threads)
    print(f"load at start: {os.getloadavg()[0]:.2f}; torch {torch.__version__}, {args.threads} thread(s)")
    ds = LazyRows(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            plain, ours = [], []
            for rep in range(args.reps):
                plain.append(plain_epochs(ds, workers, args.batch, args.epochs))
                ours.append(learnsys_epochs(ds, workers, args.batch, f"{tmp}/w{workers}-{rep}", args.epochs))
            for label, part in (("first epoch (start-up inside)", slice(0, 1)), ("later epochs", slice(1, None))):
                p = [statistics.mean(e[part]) for e in plain]
                o = [statistics.mean(e[part]) for e in ours]
                print(f"lazy Dataset {args.rows} rows, {workers} worker(s), {label}: plain DataLoader {spread(p)} s; "
                      f"learnsys {spread(o)} s; learnsys/plain {spread([a / b for a, b in zip(o, p)])}x")
        x, y = digits_like(1797 * 4)
        plain, ours = [], []
        for rep in range(args.reps):
            plain.append(plain_cnn(x, y, args.batch))
            ours.append(learnsys_cnn(x, y, args.batch, f"{tmp}/cnn-{rep}"))
        ratios = [o / p for o, p in zip(ours, plain)]
        print(f"digits-shaped CNN, {len(x)} images: plain {spread(plain)} samples/s; learnsys {spread(ours)} "
              f"samples/s; learnsys/plain throughput {spread(ratios)}")
    print(f"load at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
