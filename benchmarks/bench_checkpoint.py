"""Checkpoint cost: learnsys's atomic checksummed write against the disk's limit and
torch.save, each way of writing it side by side, and the loop's stall per checkpoint with
--async-checkpoint.

Workload: an MLP of ten 1000x1000 linear layers (10.01 M parameters) after one Adam step,
so the state is parameters + exp_avg + exp_avg_sq: 120 MB of float32 tensors.

1. Write, same folder, a fresh file each time, the contenders in a rotating order each round:
   - raw:          the bytes torch.save produces (made in memory beforehand), one write() +
                   fsync: what the disk can do, the floor the target is measured against;
   - raw+writeback: the same bytes in 8 MB writes, each followed by posix_fadvise(DONTNEED),
                   which starts writeback early (learnsys does this): the floor of that trick;
   - learnsys:     Checkpointer.save as shipped: torch.save streamed into a temp file while the
                   checksum is computed, sidecar, fsyncs, renames, folder fsync, manifest, keep-k;
   - the options:  the same Checkpointer.save with one choice changed: the checksum (sha256,
                   the fallback without xxhash; crc32c from the crc32c package, a row only where it is installed), hashing in line
                   instead of on a helper thread, no writeback; and "writev": torch.save's
                   buffers gathered first (it hands over views of the tensors, no copy), then
                   one os.writev per 1024 of them, hashed after;
   - torch.save:   torch.save(state, path) + fsync of the file.
   Reported: median, min and max time per contender, and the median of per-round ratios to raw.
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
stalls, which measures the neighbours, not the checkpoint. The load average is printed at
the start and the end.

    python benchmarks/bench_checkpoint.py [--reps 7] [--dir PATH] [--threads 1] [--json] [--write-only]
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
from learnsys.train import checkpoint_file
from learnsys.train.checkpoint import Checkpointer, to_host
from learnsys.train.checkpoint_file import fsync_path
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


def stats(values: list[float]) -> dict:
    return {"median_s": statistics.median(values), "min_s": min(values), "max_s": max(values)}


class _Gather:
    """A torch.save target that keeps the views it is handed (of the tensors' own memory)."""

    def __init__(self):
        self.views: list = []

    def write(self, chunk) -> int:
        view = memoryview(chunk).cast("B")
        self.views.append(view if view.nbytes >= 4096 else bytes(view))  # small records are torch's temporaries
        return view.nbytes

    def flush(self) -> None:
        pass


def writev_save(state: dict, path: Path, checksum: str) -> None:
    """The writev option: gather torch.save's buffers, one writev per 1024, hash, sidecar, renames."""
    gather = _Gather()
    with checkpoint_file._no_zip_crc32():
        torch.save(state, gather)
    tmp = checkpoint_file.temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for i in range(0, len(gather.views), 1024):
            batch = gather.views[i:i + 1024]
            want, done = sum(memoryview(v).nbytes for v in batch), os.writev(fd, batch)
            if done != want:  # a short writev: finish this batch plainly
                checkpoint_file.write_fd(fd, memoryview(b"".join(batch))[done:])
        digest = checkpoint_file.CHECKSUMS[checksum]()
        for v in gather.views:
            digest.update(v)
        os.fsync(fd)
    finally:
        os.close(fd)
    side = checkpoint_file.sidecar_path(path)
    checkpoint_file.write_small(checkpoint_file.temp_path(side), json.dumps({"checksum": digest.hexdigest()}).encode())
    os.replace(checkpoint_file.temp_path(side), side)
    os.replace(tmp, path)
    fsync_path(path.parent)


def _register_crc32c() -> bool:
    try:
        import crc32c
    except ImportError:
        return False
    checkpoint_file.CHECKSUMS.setdefault("crc32c", crc32c.CRC32CHash)
    return True


def bench_write(state: dict, folder: Path, reps: int) -> dict:
    buffer = io.BytesIO()
    with checkpoint_file._no_zip_crc32():  # the bytes learnsys writes
        torch.save(state, buffer)
    payload = buffer.getbuffer()
    raw_path, torch_path = folder / "raw.bin", folder / "torch.pt"

    def raw() -> None:
        with open(raw_path, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())

    def raw_writeback() -> None:
        fd = os.open(raw_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            step = checkpoint_file.WRITEBACK_BYTES
            for start in range(0, len(payload), step):
                checkpoint_file.write_fd(fd, payload[start:start + step])
                os.posix_fadvise(fd, start, step, os.POSIX_FADV_DONTNEED)
            os.fsync(fd)
        finally:
            os.close(fd)

    def plain_torch_save() -> None:
        torch.save(state, torch_path)
        fsync_path(torch_path)

    def checkpointer(name: str, **choices) -> Checkpointer:
        ckpt = Checkpointer(folder / name, keep=1)
        for k, v in choices.items():
            setattr(ckpt, k, v)
        return ckpt

    shipped = checkpointer("learnsys")
    options = {"learnsys": shipped,
               "option: sha256, thread": checkpointer("sha256-thread", checksum="sha256", parallel_hash=True),
               "option: sha256, in line": checkpointer("sha256-line", checksum="sha256", parallel_hash=False),
               "option: xxh3-128, in line": checkpointer("xxh3-line", checksum="xxh3-128", parallel_hash=False),
               "option: xxh3-128, thread": checkpointer("xxh3-thread", checksum="xxh3-128", parallel_hash=True),
               "option: no writeback": checkpointer("no-writeback", writeback=False)}
    if _register_crc32c():
        options["option: crc32c, thread"] = checkpointer("crc32c-thread", checksum="crc32c", parallel_hash=True)
    if "xxh3-128" not in checkpoint_file.CHECKSUMS:  # without xxhash the shipped default is sha256
        options = {k: v for k, v in options.items() if "xxh3" not in k}
    step = [0]  # the round: each contender writes a fresh file per round
    contenders = {"raw": raw, "raw+writeback": raw_writeback}
    for name, ckpt in options.items():
        contenders[name] = lambda c=ckpt: c.save(step[0], state)
    (folder / "writev").mkdir()
    contenders["option: writev"] = lambda: writev_save(state, folder / "writev" / f"step-{step[0]:08d}.pt",
                                                       shipped.checksum)
    contenders["torch.save"] = plain_torch_save
    names = list(contenders)
    times: dict[str, list[float]] = {k: [] for k in names}
    for i in range(reps + 1):
        step[0] = i + 1
        for p in [raw_path, torch_path, *(folder / "writev").iterdir()]:
            p.unlink(missing_ok=True)
        order = names[i % len(names):] + names[:i % len(names)]
        round_times = {k: timed(contenders[k]) for k in order}
        if i:  # the first round warms the page cache and the allocator
            for k, v in round_times.items():
                times[k].append(v)
    for ckpt in options.values():
        ckpt.wait()
    out = {"bytes": len(payload), "checksum": shipped.checksum, "parallel_hash": shipped.parallel_hash}
    for k, v in times.items():
        out[k] = {**stats(v), "x_raw": statistics.median(a / b for a, b in zip(v, times["raw"]))}
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
    parser.add_argument("--write-only", action="store_true", help="only part 1, the write")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()
    model, optimizer = workload()
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
    n_params = sum(p.numel() for p in model.parameters())
    with tempfile.TemporaryDirectory(dir=args.dir or ".", prefix=".bench-ckpt-") as tmp:
        write = bench_write(state, Path(tmp), args.reps)
        stall = None if args.write_only else bench_stall(model, optimizer, Path(tmp), args.reps)
        e2e = None if args.write_only else bench_end_to_end(Path(tmp), max(3, args.reps // 2))
    result = {"parameters": n_params, "torch": str(torch.__version__), "threads": torch.get_num_threads(),
              "cpus": os.cpu_count(), "load_start": load_start, "load_end": os.getloadavg(), "write": write,
              "stall": stall, "end_to_end": e2e}
    if args.json:
        print(json.dumps(result, indent=1))
        return
    ms = lambda s: f"{1000 * s:7.1f} ms"  # noqa: E731
    load = lambda la: " ".join(f"{v:.2f}" for v in la)  # noqa: E731
    print(f"state: {n_params / 1e6:.2f} M parameters + Adam state = {write['bytes'] / 1e6:.1f} MB; "
          f"torch {result['torch']}, {result['threads']} threads, {result['cpus']} cpus; {args.reps} rounds; "
          f"load average at start {load(load_start)}")
    print(f"write (fresh file + fsync); learnsys ships {write['checksum']}, "
          f"{'hashed on a helper thread' if write['parallel_hash'] else 'hashed in line'}")
    print("  contender                        median        min        max   x raw (median of rounds)")
    for k, w in write.items():
        if isinstance(w, dict):
            print(f"  {k:30s} {ms(w['median_s'])} {ms(w['min_s'])} {ms(w['max_s'])}   {w['x_raw']:.2f}x")
    if stall is not None:
        print("loop stall per checkpoint")
        print(f"  in-memory copy (fresh clone)   {ms(stall['copy_fresh']['median_s'])} {ms(stall['copy_fresh']['best_s'])}")
        print(f"  async save_checkpoint          {ms(stall['async_stall']['median_s'])} "
              f"{ms(stall['async_stall']['best_s'])}   (first one, into fresh memory: "
              f"{ms(stall['async_stall_first_s']).strip()})")
        print(f"  sync save_checkpoint           {ms(stall['sync_stall']['median_s'])} {ms(stall['sync_stall']['best_s'])}")
        fit = e2e["fit_median_s"]
        print(f"end to end, 21-step fit with 6 checkpoints (median of {max(3, args.reps // 2)}): no checkpoints "
              f"{fit['none']:.2f} s, sync {fit['sync']:.2f} s, async {fit['async']:.2f} s; per checkpoint: "
              f"sync {ms(e2e['per_checkpoint_s']['sync']).strip()}, async "
              f"{ms(e2e['per_checkpoint_s']['async']).strip()}")
    ok_write = write["learnsys"]["x_raw"] <= 1.2
    line = f"targets: write <= 1.2x raw: {'met' if ok_write else 'NOT met'}"
    if stall is not None:
        ok_stall = stall["async_stall"]["median_s"] <= stall["copy_fresh"]["median_s"]
        line += f"; async stall <= copy: {'met' if ok_stall else 'NOT met'}"
    print(f"{line}; load average at end {load(result['load_end'])}")


if __name__ == "__main__":
    main()
