"""2 CPU processes (torchrun, gloo) against 1 on the tabular workload, measured side by side.

The tabular workload of bench_loop.py (200,000 x 32 regression, MLP 32-64-1, Adam, global
batch 256 here so each of 2 ranks gets 128 rows, one epoch), trained by learnsys in one
process and through `torchrun --nproc-per-node 2`; reported as throughput (rows/s) and the
ratio. Where the time goes: the same loop's compute per step in one process with batch 128,
and a gloo all-reduce of the model's gradients (2,177 floats) between 2 processes, each timed
alone. Repetitions alternate; medians with min and max.

    python benchmarks/bench_distributed.py [--reps 3] [--rows 200000]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def train(nproc: int, rows: int, runs: str) -> float:
    """Seconds of the training loop (from the run's log.txt: its first and last lines' stamps are
    too coarse, so the loop is timed by the process itself and printed)."""
    spec = ["--data", "synthetic-linear", "--data-args", f"size={rows}", "features=32", "--model", "mlp:64",
            "--optimizer", "adam", "--lr", "0.001", "--batch-size", "256", "--epochs", "1",
            "--checkpoint-every", "1000000000", "--no-ui", "--quiet", "--runs-dir", runs]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "LEARNSYS_BENCH_TIMER": "1"}
    cmd = [sys.executable, str(Path(__file__)), "--inner", *spec]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), "--master-addr",
               "127.0.0.1", "--master-port", str(29600 + os.getpid() % 300), str(Path(__file__)), "--inner", *spec]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    found = re.search(r"LOOP_SECONDS ([0-9.]+)", out.stdout)
    if not found:
        raise SystemExit(out.stderr[-2000:])
    return float(found.group(1))


def inner(argv: list[str]) -> None:
    """One training process (or one rank): time the loop from the first step to the last."""
    import learnsys.cli as cli
    from learnsys.train.callbacks import Callback

    class Timer(Callback):
        def on_fit_start(self, trainer, logs):
            self.t0 = time.perf_counter()

        def on_fit_end(self, trainer, logs):
            if os.environ.get("RANK", "0") == "0":
                print(f"LOOP_SECONDS {time.perf_counter() - self.t0:.4f}", flush=True)

    import learnsys.session as session
    original = session.run_session

    def with_timer(built, folder, state, **kw):
        kw["callbacks"] = [*kw.get("callbacks", ()), Timer()]
        return original(built, folder, state, **kw)

    session.run_session = with_timer
    import learnsys.api as api
    api.run_session = with_timer
    torch.set_num_threads(1)
    raise SystemExit(cli.main(["train", *argv]))


def allreduce_cost(reps: int) -> float:
    code = ("import time, torch, torch.distributed as d\n"
            "d.init_process_group('gloo'); g = torch.zeros(2177)\n"
            "for _ in range(50): d.all_reduce(g)\n"
            "t = time.perf_counter()\n"
            f"for _ in range({reps}): d.all_reduce(g)\n"
            "d.barrier()\n"
            "print('ALLREDUCE_US', (time.perf_counter() - t) / " + str(reps) + " * 1e6) if d.get_rank() == 0 else None\n")
    path = Path(tempfile.mkdtemp()) / "ar.py"
    path.write_text(code)
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr",
                          "127.0.0.1", "--master-port", "29955", str(path)], capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    return float(re.search(r"ALLREDUCE_US ([0-9.]+)", out.stdout).group(1))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--inner":
        inner(sys.argv[2:])
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rows", type=int, default=200_000)
    args = ap.parse_args()
    print(f"load at start: {os.getloadavg()[0]:.2f}; torch {torch.__version__}, 1 thread per process")
    one, two = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            one.append(train(1, args.rows, f"{tmp}/one-{rep}"))
            two.append(train(2, args.rows, f"{tmp}/two-{rep}"))
    steps = args.rows // 256 + (args.rows % 256 > 0)
    med = statistics.median
    print(f"1 process: {med(one):.2f} s ({min(one):.2f}-{max(one):.2f}), {args.rows / med(one):,.0f} rows/s")
    print(f"2 processes: {med(two):.2f} s ({min(two):.2f}-{max(two):.2f}), {args.rows / med(two):,.0f} rows/s")
    print(f"throughput 2 vs 1: {med(one) / med(two):.2f}x (ideal 2x on 2 free cores)")
    ar = allreduce_cost(500)
    print(f"where the time goes: per step {med(two) / steps * 1e6:.0f} us with 2 processes, of which a gloo "
          f"all-reduce of the 2,177 gradients costs {ar:.0f} us alone; one process: {med(one) / steps * 1e6:.0f} us")
    print(f"load at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
