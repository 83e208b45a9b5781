"""Checkpoint cost: learnsys's atomic checksummed write against the disk's limit and
torch.save, and the loop's stall per checkpoint with --async-checkpoint.

Workload: an MLP of ten 1000x1000 linear layers (10.01 M parameters) after one Adam step,
so the state is parameters + exp_avg + exp_avg_sq: 120 MB of float32 tensors.

1. Write, same folder, a fresh file each time, repetitions alternating between contenders:
   - raw:       the bytes torch.save produces (made in memory beforehand) written with one
                write() + fsync: what the disk can do, the floor;
   - learnsys:  Checkpointer.save: torch.save streamed into a temp file while sha256 hashes it,
                header, fsync, rename, fsync of the folder, manifest (fsynced), keep-k pruning;
   - torch.save: torch.save(state, path) + fsync of the file (torch.save alone does not fsync;
                without it the figure would be a page-cache copy, not a durable write).
   Reported: median and best time per contender, and the median of per-round ratios to raw.
2. Stall: how long Trainer.save_checkpoint() holds the loop with --async-checkpoint (state to
   host memory, then a background thread writes) against the in-memory copy of the state
   (every tensor cloned into fresh memory), and against the synchronous save_checkpoint().
   The background write is waited for between rounds, outside the timing.
3. End to end: Trainer.fit() of that model (batch 8 of 64 rows, 21 steps, a checkpoint every
   5 steps: at 0, 5, 10, 15, 20 and the end, 6 in all) with no checkpoints, sync and async, in
   a rotating order; the cost per checkpoint is the median over rounds of (time - time
   without) / 6. This includes what the background writer takes from the loop (CPU, the GIL)
   while it runs, which the stall alone does not.

Torch runs with one thread (`--threads`) unless told otherwise: on a small shared machine
two OpenMP threads that spin-wait for each other turn any other load into second-long
stalls, which measures the neighbours, not the checkpoint.

    python benchmarks/bench_checkpoint.py [--reps 7] [--dir PATH] [--threads 1] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from learnsys.spec import RunSpec
from learnsys.train.checkpoint import Checkpointer, fsync_path, to_host
from learnsys.train.loop import Trainer


def workload() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(*[torch.nn.Linear(1000, 1000) for _ in range(10)])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(4, 1000)).square().mean().backward()
    optimizer.step()  # creates exp_avg and exp_avg_sq
    return model, optimizer


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_write(state: dict, folder: Path, reps: int) -> dict:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    raw_path, torch_path = folder / "raw.bin", folder / "torch.pt"
    ckpt = Checkpointer(folder / "checkpoints", keep=1)

    def raw() -> None:
        with open(raw_path, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())

    def plain_torch_save() -> None:
        torch.save(state, torch_path)
        fsync_path(torch_path)

    times: dict[str, list[float]] = {"raw": [], "learnsys": [], "torch.save": []}
    for i in range(reps + 1):
        for p in (raw_path, torch_path):
            p.unlink(missing_ok=True)
        round_times = {"raw": timed(raw), "learnsys": timed(lambda: ckpt.save(i + 1, state)),
                       "torch.save": timed(plain_torch_save)}
        if i:  # the first round warms the page cache and the allocator
            for k, v in round_times.items():
                times[k].append(v)
    out = {"bytes": len(payload)}
    for k, v in times.items():
        out[k] = {"median_s": statistics.median(v), "best_s": min(v)}
    for k in ("learnsys", "torch.save"):
        out[k]["x_raw"] = statistics.median(a / b for a, b in zip(times[k], times["raw"]))
    return out


def bench_stall(model: torch.nn.Module, optimizer: torch.optim.Optimizer, folder: Path, reps: int) -> dict:
    x = torch.randn(8, 1000)  # (B, in)

    def trainer(async_checkpoint: bool, name: str) -> Trainer:
        spec = RunSpec.from_dict({"steps": 10**6, "checkpoint_every": 10**6, "async_checkpoint": async_checkpoint,
                                  "guard": "off"})
        return Trainer(model=model, optimizer=optimizer, scheduler=None, loss_fn=torch.nn.MSELoss(), train=(x, x),
                       dev=None, spec=spec, checkpointer=Checkpointer(folder / name, keep=1))

    t_async, t_sync = trainer(True, "async"), trainer(False, "sync")
    copy_fresh, stall_async, stall_sync, stall_first = [], [], [], None
    for i in range(reps + 1):
        copy_fresh.append(timed(lambda: to_host(t_async.state_dict())))
        t_async.progress.step = i + 1
        stall = timed(t_async.save_checkpoint)
        t_async.checkpointer.wait()
        if i == 0:
            stall_first = stall  # no host buffers yet: the copy goes to fresh memory
        else:
            stall_async.append(stall)
        t_sync.progress.step = i + 1
        stall_sync.append(timed(t_sync.save_checkpoint))
    return {"copy_fresh": {"median_s": statistics.median(copy_fresh[1:]), "best_s": min(copy_fresh[1:])},
            "async_stall_first_s": stall_first,
            "async_stall": {"median_s": statistics.median(stall_async), "best_s": min(stall_async)},
            "sync_stall": {"median_s": statistics.median(stall_sync[1:]), "best_s": min(stall_sync[1:])}}


def bench_end_to_end(folder: Path, reps: int) -> dict:
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 1000, generator=g), torch.randn(64, 1000, generator=g)  # (N, in), (N, out)
    times: dict[str, list[float]] = {"none": [], "sync": [], "async": []}
    modes = list(times)
    for i in range(reps):
        for mode in modes[i % 3:] + modes[:i % 3]:
            model, _ = workload()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            spec = RunSpec.from_dict({"steps": 21, "batch_size": 8, "checkpoint_every": 5, "checkpoint_seconds": 0, "guard": "off",
                                      "async_checkpoint": mode == "async"})
            ckpt = None if mode == "none" else Checkpointer(folder / f"e2e-{mode}-{i}", keep=1)
            trainer = Trainer(model=model, optimizer=optimizer, scheduler=None, loss_fn=torch.nn.MSELoss(),
                              train=(x, y), dev=None, spec=spec, checkpointer=ckpt)
            times[mode].append(timed(trainer.fit))
    per = {k: statistics.median((a - b) / 6 for a, b in zip(times[k], times["none"])) for k in ("sync", "async")}
    return {"fit_median_s": {k: statistics.median(v) for k, v in times.items()}, "per_checkpoint_s": per}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--dir", default=None, help="folder to write in (default: a temp folder under ./)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, optimizer = workload()
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
    n_params = sum(p.numel() for p in model.parameters())
    with tempfile.TemporaryDirectory(dir=args.dir or ".", prefix=".bench-ckpt-") as tmp:
        write = bench_write(state, Path(tmp), args.reps)
        stall = bench_stall(model, optimizer, Path(tmp), args.reps)
        e2e = bench_end_to_end(Path(tmp), max(3, args.reps // 2))
    result = {"parameters": n_params, "torch": str(torch.__version__), "threads": torch.get_num_threads(),
              "cpus": os.cpu_count(), "write": write, "stall": stall, "end_to_end": e2e}
    if args.json:
        print(json.dumps(result, indent=1))
        return
    ms = lambda s: f"{1000 * s:7.1f} ms"  # noqa: E731
    print(f"state: {n_params / 1e6:.2f} M parameters + Adam state = {write['bytes'] / 1e6:.1f} MB; "
          f"torch {result['torch']}, {result['threads']} threads, {result['cpus']} cpus; median of {args.reps}")
    print("write (fresh file + fsync)        median       best   x raw (median of rounds)")
    for k in ("raw", "learnsys", "torch.save"):
        w = write[k]
        ratio = f"{w['x_raw']:.2f}x" if "x_raw" in w else "1.00x"
        print(f"  {k:30s} {ms(w['median_s'])} {ms(w['best_s'])}   {ratio}")
    print("loop stall per checkpoint")
    print(f"  in-memory copy (fresh clone)   {ms(stall['copy_fresh']['median_s'])} {ms(stall['copy_fresh']['best_s'])}")
    print(f"  async save_checkpoint          {ms(stall['async_stall']['median_s'])} {ms(stall['async_stall']['best_s'])}"
          f"   (first one, into fresh memory: {ms(stall['async_stall_first_s']).strip()})")
    print(f"  sync save_checkpoint           {ms(stall['sync_stall']['median_s'])} {ms(stall['sync_stall']['best_s'])}")
    fit = e2e["fit_median_s"]
    print(f"end to end, 21-step fit with 6 checkpoints (median of {max(3, args.reps // 2)}): no checkpoints "
          f"{fit['none']:.2f} s, sync {fit['sync']:.2f} s, async {fit['async']:.2f} s; per checkpoint: "
          f"sync {ms(e2e['per_checkpoint_s']['sync']).strip()}, async {ms(e2e['per_checkpoint_s']['async']).strip()}")
    ok_write = write["learnsys"]["x_raw"] <= 1.2
    ok_stall = stall["async_stall"]["median_s"] <= stall["copy_fresh"]["median_s"]
    print(f"targets: write <= 1.2x raw: {'met' if ok_write else 'NOT met'}; "
          f"async stall <= copy: {'met' if ok_stall else 'NOT met'}")


if __name__ == "__main__":
    main()
