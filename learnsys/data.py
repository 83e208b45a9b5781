"""Data sets: loading, the seeded train/dev split, standardisation and fast in-memory batches.

A `DataSet` is two tensors in memory, `x` (N, F) and `y` (N, T), both float32, plus names.
Classification sets keep class ids as floats in `y` (N, 1) and say how many classes there are;
the loss turns them into what it needs once, before the loop.

    ds = load_data(spec)                     # lecture, csv, npz, sklearn sets, synthetic
    train, dev = split(ds, spec.dev, spec.seed)
    scaler = Standardizer.fit(train.x)       # fitted on the train part only
    order = epoch_order(n, seed, epoch)      # the per-epoch permutation: a function of (seed, epoch)
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import DataError
from .origin import ARRAYS

LECTURE_X = [1.0, 2.0, 3.0]
BUILTIN_LECTURE = {                        # y at x = 1, 2, 3, named by the lecture listing that uses it
    "lecture": [2.0, 4.0, 6.0],            # lectures 2-3: y = 2x (the slides; lecture 3's GD and SGD)
    "lecture2": [2.02, 3.98, 6.01],        # lecture 2's exhaustive-search listing
    "lecture4": [1.98, 4.12, 5.95],        # lecture 4's back-propagation listing (w1·x² + w2·x + b)
    "lecture5": [1.98, 4.12, 5.95],        # lecture 5's linear regression listing: the default data
}
RENAMED = {"lecture-noisy": "lecture2", "lecture-quadratic": "lecture5"}   # old name -> name
SKLEARN_SETS = ("diabetes", "iris", "wine", "breast_cancer", "digits")
SYNTHETIC_SETS = ("synthetic-linear", "synthetic-classes")
BUILTIN_NAMES = (*BUILTIN_LECTURE, *SYNTHETIC_SETS, *SKLEARN_SETS)
SYNTHETIC_ARGS = {"size": 1000, "features": 1, "noise": 0.1, "classes": 3, "seed": 0}


@dataclass
class DataSet:
    x: torch.Tensor                      # (N, F) float32
    y: torch.Tensor                      # (N, T) float32; class ids when n_classes > 0
    feature_names: list[str]
    target_names: list[str]
    n_classes: int = 0                   # 0: regression
    source: str = ""

    @property
    def n_rows(self) -> int:
        return self.x.shape[0]

    @property
    def n_features(self) -> int:
        return self.x.shape[1]

    def rows(self, index: torch.Tensor) -> "DataSet":
        return DataSet(self.x[index], self.y[index], self.feature_names, self.target_names, self.n_classes, self.source)

    def meta(self) -> dict:
        return {"feature_names": self.feature_names, "target_names": self.target_names,
                "n_classes": self.n_classes, "n_features": self.n_features, "source": self.source}


# -- loading ---------------------------------------------------------------------------

def load_data(name: str, *, target: list[str] | None = None, data_args: dict | None = None) -> DataSet:
    """Load a built-in set or a file; raise DataError with one line saying what and where."""
    if name in RENAMED:
        logging.getLogger("learnsys").warning(f"data set {name!r} is now called {RENAMED[name]!r} (the lecture "
                                              "listing that uses it); the old name still works for now.")
        name = RENAMED[name]
    if name in BUILTIN_LECTURE:
        x = torch.tensor([[v] for v in LECTURE_X])                  # (3, 1), as in lecture 5
        y = torch.tensor([[v] for v in BUILTIN_LECTURE[name]])      # (3, 1)
        ds = DataSet(x, y, ["x"], ["y"], 0, name)
    elif name in SYNTHETIC_SETS:
        ds = _synthetic(name, data_args or {})
    elif name in SKLEARN_SETS:
        ds = _sklearn(name)
    else:
        path = Path(name)
        if path.suffix.lower() not in (".csv", ".npz"):
            raise DataError(f"Unknown data set {name!r}: use one of {', '.join(BUILTIN_NAMES)}, "
                            "or a path to a .csv or .npz file.")
        if not path.exists():
            raise DataError(f"Data file {path} does not exist. Check the path given to --data.")
        ds = _csv(path, target or []) if path.suffix.lower() == ".csv" else _npz(path)
    check_finite(ds)
    return ds


def from_arrays(data: tuple) -> DataSet:
    """A pair (x, y) of arrays, tensors or nested lists as a DataSet ('<arrays>'), checked."""
    try:
        x, y = data
        x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        y = torch.as_tensor(np.asarray(y, dtype=np.float32))
    except (TypeError, ValueError) as e:
        raise DataError(f"data must be a name, a path or a pair (x, y) of numeric arrays ({e}).") from None
    x = x[:, None] if x.ndim == 1 else x
    y = y[:, None] if y.ndim == 1 else y
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise DataError(f"data arrays x {tuple(x.shape)} and y {tuple(y.shape)} must be (N, F) and (N, T).")
    ds = DataSet(x, y, [f"x{j}" for j in range(x.shape[1])], [f"y{j}" for j in range(y.shape[1])], 0, ARRAYS)
    check_finite(ds)
    return ds


def check_finite(ds: DataSet) -> None:
    if ds.n_rows == 0:
        raise DataError(f"Data set {ds.source} is empty: it has no rows. Give a file with at least one data row.")
    for label, t, names in (("feature", ds.x, ds.feature_names), ("target", ds.y, ds.target_names)):
        bad = ~torch.isfinite(t)
        if bad.any():
            row, col = (int(i) for i in bad.nonzero()[0])
            raise DataError(f"Data set {ds.source}: {label} {names[col]!r} is {t[row, col].item()} in data row "
                            f"{row + 1}; {int(bad.sum())} value(s) are NaN or infinite. Clean or drop those rows.")


def read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    """The header and the cells (float64, (rows, columns)) of a CSV file with a header row;
    one DataError line for an unreadable, empty, ragged or non-numeric file."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"Cannot read data file {path}: {getattr(e, 'strerror', None) or e}.") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise DataError(f"Data file {path} is empty: it needs a header row and at least one data row.")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    if not body:
        raise DataError(f"Data file {path} has a header but no data rows.")
    values = np.empty((len(body), len(header)), dtype=np.float64)
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise DataError(f"Data file {path}, line {i + 2}: {len(row)} cells, but the header has {len(header)}.")
        for j, cell in enumerate(row):
            try:
                values[i, j] = float(cell)
            except ValueError:
                raise DataError(f"Data file {path}, line {i + 2}, column {header[j]!r}: {cell!r} is not a number. "
                                "Fix the cell or drop the column.") from None
    return header, values


def _csv(path: Path, target: list[str]) -> DataSet:
    header, values = read_csv(path)
    missing = [t for t in target if t not in header]
    if missing:
        raise DataError(f"Data file {path} has no target column {', '.join(map(repr, missing))}; "
                        f"its columns are {', '.join(header)}. Pass --target with one of them.")
    target = target or [header[-1]]
    t_idx = [header.index(t) for t in target]
    f_idx = [j for j in range(len(header)) if j not in t_idx]
    if not f_idx:
        raise DataError(f"Data file {path} has no feature columns left after taking the target(s) {target}.")
    x = torch.from_numpy(values[:, f_idx]).float()      # (N, F)
    y = torch.from_numpy(values[:, t_idx]).float()      # (N, T)
    return DataSet(x, y, [header[j] for j in f_idx], target, 0, str(path))


def _npz(path: Path) -> DataSet:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:
        raise DataError(f"Cannot read data file {path} as .npz: {e}.") from None
    if "x" not in arrays or "y" not in arrays:
        raise DataError(f"Data file {path} must hold arrays named 'x' and 'y'; it has {', '.join(arrays) or 'none'}.")
    x, y = arrays["x"], arrays["y"]
    if x.ndim == 1:
        x = x[:, None]
    if y.ndim == 1:
        y = y[:, None]
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise DataError(f"Data file {path}: x {x.shape} and y {y.shape} must be (N, F) and (N, T) with the same N.")
    try:
        xt, yt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32))
    except (TypeError, ValueError) as e:
        raise DataError(f"Data file {path}: arrays must be numeric ({e}).") from None
    return DataSet(xt, yt, [f"x{j}" for j in range(x.shape[1])], [f"y{j}" for j in range(y.shape[1])], 0, str(path))


def _synthetic(name: str, args: dict) -> DataSet:
    unknown = set(args) - set(SYNTHETIC_ARGS)
    if unknown:
        raise DataError(f"Unknown data_args {sorted(unknown)} for {name}; allowed: {', '.join(SYNTHETIC_ARGS)}.")
    a = {**SYNTHETIC_ARGS, **args}
    for key in ("size", "features", "classes"):
        if not isinstance(a[key], int) or a[key] < 1:
            raise DataError(f"data_args.{key} = {a[key]!r} must be an integer >= 1.")
    if not isinstance(a["noise"], (int, float)) or not a["noise"] >= 0:
        raise DataError(f"data_args.noise = {a['noise']!r} must be a number >= 0.")
    g = torch.Generator().manual_seed(int(a["seed"]))
    n, f = a["size"], a["features"]
    x = torch.randn(n, f, generator=g)                                  # (N, F)
    names = [f"x{j}" for j in range(f)]
    if name == "synthetic-linear":
        w = torch.randn(f, 1, generator=g)                              # (F, 1)
        y = x @ w + 0.5 + a["noise"] * torch.randn(n, 1, generator=g)   # (N, F) @ (F, 1)
        return DataSet(x, y, names, ["y"], 0, name)
    k = a["classes"]
    centres = 3.0 * torch.randn(k, f, generator=g)                      # (K, F)
    labels = torch.randint(0, k, (n,), generator=g)                     # (N,)
    x = centres[labels] + (1.0 + a["noise"]) * x
    return DataSet(x, labels.float()[:, None], names, ["class"], k, name)


def _sklearn(name: str) -> DataSet:
    from sklearn import datasets  # imported here: only these sets need it

    bunch = getattr(datasets, f"load_{name}")()
    x = torch.from_numpy(np.asarray(bunch.data, dtype=np.float32))
    y = torch.from_numpy(np.asarray(bunch.target, dtype=np.float32))[:, None]
    names = [str(n) for n in getattr(bunch, "feature_names", [f"x{j}" for j in range(x.shape[1])])]
    classes = 0 if name == "diabetes" else int(y.max().item()) + 1
    return DataSet(x, y, names, ["target" if classes == 0 else "class"], classes, name)


# -- split, scaling, order ---------------------------------------------------------------

def split(ds: DataSet, dev: float, seed: int) -> tuple[DataSet, DataSet | None]:
    """A seeded train/dev split; dev == 0 returns the data unchanged (same rows, same order)."""
    if dev == 0:
        return ds, None
    train_idx, dev_idx = split_indices(ds.n_rows, dev, seed)
    return ds.rows(train_idx), ds.rows(dev_idx)


def split_indices(n_rows: int, dev: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows (0-based, ascending) of the train and the dev part of a seeded split."""
    n_dev = max(1, int(round(n_rows * dev))) if dev else 0
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


@dataclass
class Standardizer:
    """x -> (x - mean) / std per feature, fitted on the train part; saved with the run."""
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)

    @classmethod
    def fit(cls, x: torch.Tensor) -> "Standardizer":
        mean = x.double().mean(0)
        std = x.double().std(0, unbiased=False)
        std = torch.where(std > 0, std, torch.ones_like(std))  # constant columns stay as they are
        return cls(mean.tolist(), std.tolist())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
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


def epoch_order(n_rows: int, seed: int, epoch: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The permutation of train rows for one epoch: a pure function of (seed, epoch), so resuming
    mid-epoch is an index into it, never a replay of batches."""
    g = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (2**63))
    return torch.randperm(n_rows, generator=g).to(device)
