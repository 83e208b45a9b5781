"""Distributed data parallel on PyTorch's own engine: `torchrun ... -m learnsys train ...`.

    dist = Distributed.from_env()           # None unless torchrun started this process (WORLD_SIZE > 1)
    dist.rank, dist.world, dist.is_main
    device = dist.device_for(spec.device)   # cuda:LOCAL_RANK on GPUs, else the CPU
    spec = dist.broadcast(spec)             # rank 0's value on every rank
    states = dist.gather(rng_state())       # every rank's value, on rank 0 (None elsewhere)
    loss, stop = dist.control(loss, stop)   # the mean loss and "does any rank want to stop?"

gloo on the CPU, nccl on GPUs (one per process: cuda:LOCAL_RANK); the small messages that
carry decisions and state go through gloo either way. Every rank takes its shard
of the same per-epoch permutation (rows `batch[rank::world]` of each global batch), DDP
averages the gradients, and the decisions that must agree (the guard, a stop, early stopping,
the best checkpoint, whether a scheduled checkpoint is written) are taken from values every
rank sees alike: all-reduced at fixed steps (`CONTROL_EVERY`) or broadcast from rank 0.
Rank 0 alone writes the store, the log and the checkpoints; every rank's RNG state is
gathered into each checkpoint.
"""

from __future__ import annotations

import atexit
import gc
import os
from typing import Any, Callable

import torch
import torch.distributed as tdist

from ..errors import LearnsysError, RunFailure

CONTROL_EVERY = 50   # steps between the collective checks of the loss and of stop requests


class Distributed:
    def __init__(self, rank: int, world: int, local_rank: int, owned: bool = False):
        self.rank, self.world, self.local_rank = rank, world, local_rank
        self.owned = owned   # learnsys made the process group (else the user's script did: left alone)
        self.device = torch.device("cpu")   # where this rank trains; set by device_for

    @classmethod
    def from_env(cls) -> "Distributed | None":
        """The process group torchrun set up (its env: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_*), or None."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1 and "TORCHELASTIC_RUN_ID" not in os.environ:  # torchrun with one process is DDP too
            return None
        rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        owned = not tdist.is_initialized()
        if owned:  # ours: `close` tears it down after a run, atexit after anything else
            tdist.init_process_group(backend="cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")
            atexit.register(_destroy)
        return cls(rank, world, local, owned)

    def device_for(self, name: str) -> torch.device:
        """The spec's device for this rank: one GPU per process (cuda:LOCAL_RANK), else the CPU."""
        if name == "mps" or (name.startswith("cuda") and not torch.cuda.is_available()):
            from ..errors import ModelError
            raise ModelError(f"device = {name!r} is not available to a distributed run here; use cpu (gloo) or "
                             "cuda (one GPU per process, nccl).")
        gpu = name.startswith("cuda") or (name == "auto" and torch.cuda.is_available())
        self.device = torch.device("cuda", self.local_rank) if gpu else torch.device("cpu")
        if gpu:
            torch.cuda.set_device(self.device)
        return self.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def broadcast(self, obj: Any = None) -> Any:
        """Rank 0's `obj` on every rank (any picklable object)."""
        box = [obj]
        tdist.broadcast_object_list(box, src=0, device=torch.device("cpu"))
        return box[0]

    def gather(self, obj: Any) -> list | None:
        """Every rank's `obj`, in rank order, on rank 0; None on the others."""
        out = [None] * self.world if self.is_main else None
        tdist.gather_object(obj, out, dst=0)
        return out

    def mean(self, values: list[float]) -> list[float]:
        """The mean over ranks of each value (one all-reduce)."""
        t = torch.tensor(values, dtype=torch.float64)
        tdist.all_reduce(t)
        return (t / self.world).tolist()

    def control(self, loss: Any, stop: bool) -> tuple[float, bool]:
        """At a control step: the loss averaged over ranks, and whether any rank asked to stop."""
        t = torch.tensor([float(loss), float(stop)], dtype=torch.float64)
        tdist.all_reduce(t)
        return float(t[0]) / self.world, bool(t[1] > 0)

    def share(self, work: Callable[[], Any]) -> Any:
        """`work()` on rank 0, its result on every rank; a LearnsysError it raises is raised on
        every rank (so no rank waits forever for a rank that gave up)."""
        if self.is_main:
            try:
                result = work()
            except LearnsysError as e:
                self.broadcast(("error", type(e), e.args[0]))
                raise
            return self.broadcast(("ok", result))[1]
        box = self.broadcast()
        if box[0] == "error":
            try:
                raise box[1](box[2])
            except TypeError:  # an error type with another signature: the message, exit 1
                raise RunFailure(box[2]) from None
        return box[1]

    def barrier(self) -> None:
        tdist.barrier()

    def close(self, built: Any = None) -> None:
        """After a run every rank finished: drop the run's DDP wrapper (it holds the group), wait
        for the other ranks, then tear the group down together. Left to the interpreter's exit,
        a rank aborted now and then ("terminate called without an active exception", SIGABRT,
        about 1 run in 15 on a 2-core machine)."""
        if built is not None:
            built.ddp = None
            gc.collect()
        if self.owned and tdist.is_available() and tdist.is_initialized():
            tdist.barrier()
            _destroy()


def _destroy() -> None:
    if tdist.is_available() and tdist.is_initialized():
        tdist.destroy_process_group()


def shard(index: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """This rank's rows of a global batch: every `world`-th row from `rank` (sizes differ by at most 1)."""
    return index[rank::world]
