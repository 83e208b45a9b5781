"""The two paths that feed the loop its batches, driven by one seeded per-epoch order.

    feed = MemoryFeed(x, y, batch_size=32, shuffle=True, seed=0)        # tensors on the device
    feed = LoaderFeed(lazy, batch_size=32, shuffle=True, seed=0, workers=2, device=device)
    xb, yb = feed.batch(epoch, i)       # the i-th batch of that epoch, on the device
    for xb, yb in feed.batches(): ...   # one pass in order (evaluation)

Both are a pure function of (seed, epoch, i): batch i of epoch e is the rows
`epoch_order(n, seed, e)[i*B:(i+1)*B]` (in their given order when not shuffled), so a
resume in the middle of an epoch asks for the batch it stopped at and gets the same rows.

The memory path indexes tensors already on the device: no per-sample `__getitem__`, no
collate. The DataLoader path is `torch.utils.data.DataLoader` with learnsys's batch sampler;
in worker processes each batch's items are loaded with every RNG (torch, python, numpy)
seeded from (seed, epoch, batch), so random augmentation in `__getitem__` draws the same
numbers whether the run was resumed or not and however many workers load it; without
workers it draws from the training process's generators, which checkpoints save.
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable, Iterator

import numpy as np
import torch

from .dataset import map_tensors
from .lazy import LazyData, item, split_item
from .order import epoch_permutation


class MemoryFeed:
    def __init__(self, x: Any, y: torch.Tensor | None, *, batch_size: int, shuffle: bool | str, seed: int):
        self.x, self.y = x, y                      # (N, ...) on the device; y (N, T), (N,) or None
        self.n_rows = x.shape[0] if isinstance(x, torch.Tensor) else \
            next(iter(x.values() if isinstance(x, dict) else x)).shape[0]
        self.batch_size = batch_size
        self.batches_per_epoch = math.ceil(self.n_rows / batch_size)
        # --shuffle torch permutes a single batch too, as DataLoader(shuffle=True) does
        self.permute = shuffle == "torch" or (shuffle and self.batches_per_epoch > 1)
        self.seed = seed
        self.torch_seed: int | None = None         # --shuffle torch: this epoch's seed, set by the loop
        self.rank, self.world = 0, 1               # distributed: this rank takes rows rank::world of each batch
        self._tensor = isinstance(x, torch.Tensor)
        self._order, self._order_key = None, None

    def shard(self, rank: int, world: int) -> None:
        """Distributed: this rank takes rows rank::world of each global batch."""
        self.rank, self.world = rank, world

    def _take(self, index) -> tuple[Any, torch.Tensor | None]:
        xb = self.x[index] if self._tensor else map_tensors(self.x, lambda t: t[index])
        return xb, None if self.y is None else self.y[index]

    def batch(self, epoch: int, i: int) -> tuple[Any, torch.Tensor | None]:
        B = self.batch_size
        if not self.permute:
            if self.world == 1:
                if self.batches_per_epoch == 1:
                    return self.x, self.y                                    # all rows, in order
                return self._take(slice(i * B, (i + 1) * B))
            index = torch.arange(i * B, min((i + 1) * B, self.n_rows))
        else:
            if self._order_key != (epoch, self.torch_seed):
                device = self.x.device if self._tensor else "cpu"
                self._order = epoch_permutation(self.n_rows, self.seed, epoch, self.torch_seed, device)
                self._order_key = (epoch, self.torch_seed)
            index = self._order[i * B:(i + 1) * B]                          # (B,)
        if self.world > 1:
            index = index[self.rank::self.world]                             # this rank's shard of the batch
        return self._take(index)                                             # (B, ...)

    def batches(self) -> Iterator[tuple[Any, torch.Tensor | None]]:
        yield self.x, self.y

    def close(self) -> None:
        pass


class BatchIndices(list):
    """The dataset rows of one batch, and which batch it is (pickled to the workers with it)."""

    def __init__(self, rows: list[int], epoch: int, number: int):
        super().__init__(rows)
        self.epoch, self.number = epoch, number


class EpochBatches(torch.utils.data.Sampler):
    """The DataLoader path's batch sampler: the batches of `epoch`'s order from batch `start`."""

    def __init__(self, indices: torch.Tensor, batch_size: int, shuffle: bool | str, seed: int):
        self.indices, self.batch_size, self.shuffle, self.seed = indices, batch_size, shuffle, seed
        self.per_epoch = math.ceil(len(indices) / batch_size)
        self.epoch, self.start = 0, 0
        self.torch_seed: int | None = None
        self.rank, self.world = 0, 1

    def __len__(self) -> int:
        return self.per_epoch - self.start

    def __iter__(self) -> Iterator[BatchIndices]:
        n, B = len(self.indices), self.batch_size
        permute = self.shuffle == "torch" or (self.shuffle and self.per_epoch > 1)
        order = epoch_permutation(n, self.seed, self.epoch, self.torch_seed) if permute else torch.arange(n)
        rows = self.indices[order].tolist()
        for b in range(self.start, self.per_epoch):
            yield BatchIndices(rows[b * B:(b + 1) * B][self.rank::self.world], self.epoch, b)


def _batch_seed(seed: int, epoch: int, number: int) -> int:
    return (seed * 1_000_003 + epoch) * 1_000_033 + number


class SeededItems(torch.utils.data.Dataset):
    """The user's Dataset as the DataLoader sees it; a failing item is named by its index.

    In worker processes (`seeded`) each batch's items are loaded with torch's, python's and
    numpy's generators seeded from (seed, epoch, batch): the workers' generators are not in any
    checkpoint, so this is what makes their random draws the same after a resume, and the same
    for any number of workers. Without workers the items draw from the training process's own
    generators, which every checkpoint saves and restores, as a plain DataLoader loop would."""

    def __init__(self, dataset: torch.utils.data.Dataset, seed: int, seeded: bool):
        self.dataset, self.seed, self.seeded = dataset, seed, seeded

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        return item(self.dataset, index)

    def __getitems__(self, batch: BatchIndices) -> list:
        if self.seeded:
            s = _batch_seed(self.seed, batch.epoch, batch.number)
            torch.default_generator.manual_seed(s)
            random.seed(s)
            np.random.seed(s % 2**32)
        try:
            return [self.dataset[i] for i in batch]
        except Exception:  # load them again one by one, to name the item that fails (the run ends)
            return [item(self.dataset, i) for i in batch]


def _as_float32(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.float32) if t.dtype == torch.float64 else t


class LoaderFeed:
    def __init__(self, lazy: LazyData, *, batch_size: int, shuffle: bool, seed: int, workers: int = 0,
                 pin_memory: bool = False, device: torch.device | str = "cpu",
                 target_fn: Callable[[Any], Any] | None = None):
        self.lazy, self.device, self.target_fn = lazy, torch.device(device), target_fn
        self.n_rows, self.batch_size = lazy.n_rows, batch_size
        self.sampler = EpochBatches(lazy.indices, batch_size, shuffle, seed)
        self.batches_per_epoch = self.sampler.per_epoch
        self.non_blocking = pin_memory and self.device.type == "cuda"
        self.loader = torch.utils.data.DataLoader(
            SeededItems(lazy.dataset, seed, seeded=workers > 0), batch_sampler=self.sampler,
            num_workers=workers, collate_fn=lazy.collate_fn or torch.utils.data.default_collate,
            pin_memory=self.non_blocking, persistent_workers=workers > 0,
            # the DataLoader draws a base seed for its workers from this generator at each new
            # iterator, never from the global one: the model's draws (dropout) stay the same
            # whether an epoch's iterator was made fresh, reused or remade by a resume
            generator=torch.Generator().manual_seed(seed))
        self._it: Iterator | None = None
        self._next: tuple[int, int] | None = None

    def _to_device(self, raw: Any) -> tuple[Any, Any]:
        inputs, target = split_item(raw, self.lazy.layout)
        on_cpu = self.device.type == "cpu"   # the batch is there already: no .to() per tensor
        move = _as_float32 if on_cpu else \
            lambda t: _as_float32(t).to(self.device, non_blocking=self.non_blocking)  # noqa: E731
        inputs = map_tensors(inputs, move)
        if target is not None:
            target = target if on_cpu else target.to(self.device, non_blocking=self.non_blocking)
            target = self.target_fn(target) if self.target_fn is not None else target
        return inputs, target

    @property
    def torch_seed(self) -> int | None:
        return self.sampler.torch_seed

    @torch_seed.setter
    def torch_seed(self, value: int | None) -> None:
        self.sampler.torch_seed = value

    def shard(self, rank: int, world: int) -> None:
        """Distributed: this rank loads rows rank::world of each global batch."""
        self.sampler.rank, self.sampler.world = rank, world

    def batch(self, epoch: int, i: int) -> tuple[Any, Any]:
        if self._it is None or self._next != (epoch, i):  # a new epoch, or a resume in the middle of one
            self.sampler.epoch, self.sampler.start = epoch, i
            self._it = iter(self.loader)
        raw = next(self._it)
        if i + 1 == self.batches_per_epoch:
            self._it, self._next = None, None
        else:
            self._next = (epoch, i + 1)
        return self._to_device(raw)

    def batches(self) -> Iterator[tuple[Any, Any]]:
        """Every batch once, in the rows' order (for evaluation); leaves `batch`'s position alone."""
        self._it, self._next = None, None
        self.sampler.epoch, self.sampler.start = 0, 0
        for raw in self.loader:
            yield self._to_device(raw)

    def close(self) -> None:
        self._it = None
        self.loader = None
