"""The order rows are seen in: the seeded train/dev split and the per-epoch permutation.

Both are pure functions of the seed (and the epoch), so a resume in the middle of an epoch
is an index into the epoch's permutation, never a replay of batches, and the in-memory and
the DataLoader paths see the same rows in the same order.

    train_idx, dev_idx = split_indices(n_rows, dev=0.2, seed=0)
    order = epoch_order(n_rows, seed, epoch)      # (N,) a permutation of 0..N-1

`--shuffle torch` takes instead the order a plain `DataLoader(shuffle=True)` loop draws from
torch's global generator at each epoch's start; the drawn seed is kept in the train state, so
a resume in the middle of an epoch is exact there too.
"""

from __future__ import annotations

import torch

from ..errors import DataError


def split_indices(n_rows: int, dev: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train rows, dev rows), each ascending; dev == 0 gives all rows to train."""
    if dev == 0:
        return torch.arange(n_rows), torch.arange(0)
    n_dev = max(1, int(round(n_rows * dev)))
    if n_dev >= n_rows:
        raise DataError(f"dev = {dev} leaves no train rows out of {n_rows}. Use a smaller --dev.")
    g = torch.Generator().manual_seed(seed + 7919)  # its own stream: the model init stays the listing's
    perm = torch.randperm(n_rows, generator=g)
    return perm[n_dev:].sort().values, perm[:n_dev].sort().values


def dev_indices(n_rows: int, dev: float, seed: int, limit: int = 10_000) -> list[int] | None:
    """The dev rows of a split as a list, for a run's meta.json; None without a dev part or with
    more than `limit` dev rows (they follow from `split_indices(n_rows, dev, seed)`)."""
    if not dev:
        return None
    rows = split_indices(n_rows, dev, seed)[1]
    return rows.tolist() if len(rows) <= limit else None


def epoch_order(n_rows: int, seed: int, epoch: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The permutation of train rows for one epoch: a pure function of (seed, epoch), so resuming
    mid-epoch is an index into it, never a replay of batches."""
    g = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (2**63))
    return torch.randperm(n_rows, generator=g).to(device)


def epoch_permutation(n_rows: int, seed: int, epoch: int, torch_seed: int | None = None,
                      device: torch.device | str = "cpu") -> torch.Tensor:
    """The epoch's row order: learnsys's (a function of (seed, epoch)), or with `torch_seed` the
    one `DataLoader(shuffle=True)` draws (`--shuffle torch`)."""
    if torch_seed is None:
        return epoch_order(n_rows, seed, epoch, device)
    return torch.randperm(n_rows, generator=torch.Generator().manual_seed(torch_seed)).to(device)


def draw_torch_order_seed() -> int:
    """What a plain loop's `for batch in DataLoader(ds, shuffle=True)` draws from torch's global
    generator at each epoch's start: the iterator's worker base seed, then RandomSampler's seed
    for the epoch's permutation. `--shuffle torch` draws the same two, so its order (and every
    draw after it) is the plain loop's."""
    torch.empty((), dtype=torch.int64).random_()                            # the iterator's base seed
    return int(torch.empty((), dtype=torch.int64).random_().item())        # RandomSampler's seed
