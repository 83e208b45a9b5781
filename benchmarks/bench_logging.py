"""Per-step logging cost in the loop: learnsys's recorder vs TensorBoard's add_scalar.

What the loop pays to log one step: learnsys appends the loss (a detached tensor) and the
lr to a buffer; every 100 ms (or 1024 steps) the buffer becomes rows that go to the run
store's background writer (SQLite, WAL). The figure includes those flushes and the
hand-over to the writer, measured on the loop's thread, at several run lengths to show it
stays flat. TensorBoard's `SummaryWriter.add_scalar` is measured in the same run when the
`tensorboard` package is installed (it is not a learnsys dependency).

    python benchmarks/bench_logging.py [--steps 100000 1000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from learnsys.sinks.store import StoreSink
from learnsys.store import RunStore
from learnsys.train.recorder import MetricRecorder
from learnsys.train.state import Progress


class _Trainer:  # what StoreSink reads from a trainer
    def __init__(self):
        self.progress = Progress()


def learnsys_cost(steps: int, folder: Path, with_params: bool) -> float:
    store_path = folder / "learnsys.sqlite"
    run_id = f"bench-{steps}-{int(with_params)}-{time.monotonic_ns()}"
    RunStore(store_path).create_run(run_id, kind="train", spec={})
    sink = StoreSink(str(store_path), run_id)
    trainer = _Trainer()
    params = [torch.nn.Parameter(torch.zeros(1, 1)), torch.nn.Parameter(torch.zeros(1))]
    for p in params:  # as after a backward: the recorder reads them too (grad/w, grad/b)
        p.grad = torch.ones_like(p)
    recorder = MetricRecorder(trainer.progress, ["w", "b"] if with_params else [], params, epoch_means=False)
    losses = [torch.tensor(float(i % 97)) for i in range(1024)]   # stand-ins for each step's loss tensor
    start = time.perf_counter()
    for step in range(1, steps + 1):
        recorder.record(step, losses[step & 1023], 0.01)
        if recorder.due():
            batch = recorder.flush()
            sink.on_metrics(trainer, {"batch": batch, "rows": batch})
    batch = recorder.flush()
    sink.on_metrics(trainer, {"batch": batch, "rows": batch})
    elapsed = time.perf_counter() - start
    sink.writer.close()  # not counted: the writer thread's own work happens beside the loop
    return elapsed / steps * 1e6


def tensorboard_cost(steps: int, folder: Path) -> float | None:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    writer = SummaryWriter(str(folder / "tb"))
    losses = [torch.tensor(float(i % 97)) for i in range(1024)]
    start = time.perf_counter()
    for step in range(1, steps + 1):
        writer.add_scalar("train/loss", losses[step & 1023], step)
        writer.add_scalar("lr", 0.01, step)
    elapsed = time.perf_counter() - start
    writer.close()
    return elapsed / steps * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--tensorboard-steps", type=int, default=50_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-logging-"))
    learnsys_cost(10_000, folder, with_params=True)  # warm-up: imports, allocator, the SQLite file
    for steps in args.steps:
        plain = learnsys_cost(steps, folder, with_params=False)
        params = learnsys_cost(steps, folder, with_params=True)
        print(f"learnsys, {steps:>9,} steps: {plain:.2f} us/step (loss + lr), {params:.2f} us/step "
              "(+ 2 parameter paths and their gradients)  [target <= 2 us, flat]")
    tb = tensorboard_cost(args.tensorboard_steps, folder)
    if tb is None:
        print("tensorboard not installed: `pip install tensorboard` to compare")
    else:
        print(f"TensorBoard SummaryWriter.add_scalar (loss + lr), {args.tensorboard_steps:,} steps: {tb:.2f} us/step")


if __name__ == "__main__":
    main()
