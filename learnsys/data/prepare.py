"""Preparing a loaded data set for training: the train/dev split and the standardiser.

    train, dev = split(ds, spec.dev, spec.seed)    # dev is None when spec.dev == 0
    scaler = Standardizer.fit(train.x)             # fitted on the train part only, saved with the run
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..errors import DataError
from .order import split_indices


def split(ds, dev: float, seed: int):
    """A seeded train/dev split of a DataSet or LazyData; dev == 0 returns the data unchanged."""
    if dev == 0:
        return ds, None
    train_idx, dev_idx = split_indices(ds.n_rows, dev, seed)
    return ds.rows(train_idx), ds.rows(dev_idx)


@dataclass
class Standardizer:
    """x -> (x - mean) / std per feature, fitted on the train part; saved with the run."""
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)

    @classmethod
    def fit(cls, x) -> "Standardizer":
        if not isinstance(x, torch.Tensor) or x.ndim != 2:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise DataError(f"standardize needs tabular features (N, F), not {shape}; scale images or structured "
                            "inputs in the data set itself, or run without --standardize.")
        mean = x.double().mean(0)
        std = x.double().std(0, unbiased=False)
        std = torch.where(std > 0, std, torch.ones_like(std))  # constant columns stay as they are
        return cls(mean.tolist(), std.tolist())

    def __call__(self, x):
        if not self.mean:
            return x
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device)
        return (x - mean) / std

    def state_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std}

    @classmethod
    def from_state_dict(cls, state: dict) -> "Standardizer":
        return cls(list(state.get("mean", [])), list(state.get("std", [])))
