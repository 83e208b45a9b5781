"""`DataSet`: a data set held in memory as tensors, of any shape, with its targets and names.

    ds = as_dataset((x, y))          # arrays, tensors or nested lists; y floats or integer class ids
    ds = as_dataset({"image": x, "label": y})   # a dict of named tensors ('y', 'target', 'label', ...)
    ds.x                             # (N, ...) a tensor, or a tuple / dict of (N, ...) tensors
    ds.y                             # (N, T) float32 targets, (N,) int64 class ids, or None
    part = ds.rows(index)            # the same set restricted to some rows

Inputs keep their shape: `(N, F)` tabular rows, `(N, C, H, W)` images, or several named
tensors that the model takes as keyword arguments. Integer targets are class ids: the number
of classes is their maximum + 1 unless the spec's `classes` says otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ..errors import DataError
from ..origin import ARRAYS

TARGET_KEYS = ("y", "target", "targets", "label", "labels")


@dataclass(frozen=True)
class Layout:
    """How a data set's items (and batches) are laid out: (x, y) 'pair', (x1, ..., y) 'tuple',
    a 'dict' whose `target_key` entry is the target, or a lone 'tensor' without target."""
    kind: str
    target_key: Any = None


def map_tensors(x: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """`fn` applied to every tensor of an input: a tensor, a tuple/list or a dict of them."""
    if isinstance(x, torch.Tensor):
        return fn(x)
    if isinstance(x, dict):
        return {k: map_tensors(v, fn) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return tuple(map_tensors(v, fn) for v in x)
    return x


def tensors_of(x: Any) -> list[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, dict):
        return [t for v in x.values() for t in tensors_of(v)]
    if isinstance(x, (tuple, list)):
        return [t for v in x for t in tensors_of(v)]
    return []


@dataclass
class DataSet:
    x: Any                               # (N, ...) tensor, or a tuple / dict of (N, ...) tensors
    y: torch.Tensor | None               # (N, T) float32, (N,) int64 class ids, or None
    feature_names: list[str]
    target_names: list[str]
    n_classes: int = 0                   # 0: regression (or no targets)
    source: str = ""
    class_names: list[str] = field(default_factory=list)   # one per class when the source names them

    @property
    def n_rows(self) -> int:
        return tensors_of(self.x)[0].shape[0]

    @property
    def item_shape(self) -> tuple[int, ...]:
        """The shape of one input row, e.g. (F,) or (C, H, W); () for structured inputs."""
        return tuple(self.x.shape[1:]) if isinstance(self.x, torch.Tensor) else ()

    @property
    def n_features(self) -> int:
        return math.prod(self.item_shape) if self.item_shape else 0

    @property
    def layout(self) -> Layout:
        if isinstance(self.x, dict):
            return Layout("dict", self.target_names[0] if self.y is not None and self.target_names else None)
        if self.y is None:
            return Layout("tensor")
        return Layout("tuple" if isinstance(self.x, tuple) else "pair")

    def rows(self, index: torch.Tensor) -> "DataSet":
        return DataSet(map_tensors(self.x, lambda t: t[index]), None if self.y is None else self.y[index],
                       self.feature_names, self.target_names, self.n_classes, self.source, self.class_names)

    def meta(self) -> dict:
        return {"feature_names": self.feature_names, "target_names": self.target_names,
                "n_classes": self.n_classes, "n_features": self.n_features, "item_shape": list(self.item_shape),
                "source": self.source, "class_names": self.class_names}


# -- from Python objects ------------------------------------------------------------------

def _tensor(value: Any, what: str) -> torch.Tensor:
    try:
        t = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError, RuntimeError) as e:
        raise DataError(f"{what} is not a numeric array ({e}). Give arrays, tensors or nested lists of numbers.") \
            from None
    if t.is_complex():
        raise DataError(f"{what} holds complex numbers; give real-valued arrays.")
    if t.dtype == torch.bool:
        t = t.to(torch.int64)
    if t.ndim == 0:
        raise DataError(f"{what} is a single number; give one row per sample, shape (N, ...).")
    return t.detach()


def _inputs(t: torch.Tensor) -> torch.Tensor:
    """Features as float32 (integer pixels and flags too), one row per sample: (N,) -> (N, 1)."""
    t = t if t.is_floating_point() else t.to(torch.float32)
    t = t.to(torch.float32) if t.dtype == torch.float64 else t
    return t[:, None] if t.ndim == 1 else t


def targets(y: torch.Tensor, *, what: str = "y") -> tuple[torch.Tensor, int]:
    """Float targets as (N, T) float32 (regression); integer ones as (N,) int64 class ids, with
    their number of classes (max + 1)."""
    if y.is_floating_point():
        y = y.to(torch.float32)
        return (y[:, None] if y.ndim == 1 else y), 0
    y = y.reshape(y.shape[0], -1)
    if y.shape[1] != 1:
        raise DataError(f"Integer targets {what} must be one class id per row, not shape {tuple(y.shape)}.")
    y = y[:, 0].to(torch.int64)
    low = int(y.min()) if y.numel() else 0
    if low < 0:
        raise DataError(f"Class ids in {what} must be >= 0; row {int((y < 0).nonzero()[0])} has {low}.")
    return y, (int(y.max()) + 1 if y.numel() else 0)


def as_dataset(data: Any, *, source: str = ARRAYS, target_key: str | None = None) -> DataSet:
    """Arrays `(x, y)` / `(x1, x2, ..., y)`, a dict of named tensors, a lone `x` (no targets: the
    model or a step function computes the loss), or a DataSet, as a checked DataSet."""
    if isinstance(data, DataSet):
        check_finite(data)
        return data
    if isinstance(data, dict):
        if not data:
            raise DataError("The data dict is empty; give named tensors, e.g. {'x': x, 'y': y}.")
        key = target_key or next((k for k in TARGET_KEYS if k in data), None)
        if target_key is not None and target_key not in data:
            raise DataError(f"The data dict has no target {target_key!r}; its keys are {', '.join(map(str, data))}.")
        rest = {str(k): _inputs(_tensor(v, f"data[{k!r}]")) for k, v in data.items() if k != key}
        x = rest["x"] if list(rest) == ["x"] else rest
        y = None if key is None else _tensor(data[key], f"data[{key!r}]")
        names = list(rest) if isinstance(x, dict) else _feature_names(x)
        return _checked(x, y, names, [str(key)] if key is not None else [], source)
    if isinstance(data, (tuple, list)) and len(data) >= 2:
        *xs, y = data
        parts = [_inputs(_tensor(v, f"x{i}" if len(xs) > 1 else "x")) for i, v in enumerate(xs)]
        x = parts[0] if len(parts) == 1 else tuple(parts)
        return _checked(x, _tensor(y, "y"), _feature_names(x), ["y"], source)
    if isinstance(data, (torch.Tensor, np.ndarray)):
        x = _inputs(_tensor(data, "x"))
        return _checked(x, None, _feature_names(x), [], source)
    raise DataError(f"data of type {type(data).__name__} is not usable: give a name or a path, arrays (x, y), a "
                    "dict of named tensors, or a torch.utils.data.Dataset.")


def _feature_names(x: Any) -> list[str]:
    if isinstance(x, torch.Tensor) and x.ndim == 2:
        return [f"x{j}" for j in range(x.shape[1])]
    return []


def _checked(x: Any, y: torch.Tensor | None, feature_names: list[str], target_names: list[str],
             source: str) -> DataSet:
    rows = {t.shape[0] for t in tensors_of(x)} | ({y.shape[0]} if y is not None else set())
    if len(rows) != 1:
        shapes = ", ".join(str(tuple(t.shape)) for t in [*tensors_of(x), *([y] if y is not None else [])])
        raise DataError(f"The data's inputs and targets have different numbers of rows ({shapes}); give one row "
                        "per sample in each.")
    n_classes = 0
    if y is not None:
        y, n_classes = targets(y)
        if n_classes:
            target_names = target_names or ["class"]
    ds = DataSet(x, y, feature_names, target_names, n_classes, source)
    check_finite(ds)
    return ds


def check_finite(ds: DataSet) -> None:
    if ds.n_rows == 0:
        raise DataError(f"Data set {ds.source} is empty: it has no rows. Give a file with at least one data row.")
    parts = [("feature", t, ds.feature_names) for t in tensors_of(ds.x)]
    if ds.y is not None and ds.y.is_floating_point():
        parts.append(("target", ds.y, ds.target_names))
    for label, t, names in parts:
        if not t.is_floating_point():
            continue
        bad = ~torch.isfinite(t)
        if bad.any():
            where = [int(i) for i in bad.nonzero()[0]]
            row = where[0]
            if t.ndim == 2 and len(names) == t.shape[1]:
                what = f"{label} {names[where[1]]!r} is {t[row, where[1]].item()}"
            else:
                what = f"{label} value at {tuple(where[1:])} is {t[tuple(where)].item()}"
            raise DataError(f"Data set {ds.source}: {what} in data row {row + 1}; {int(bad.sum())} value(s) are "
                            "NaN or infinite. Clean or drop those rows.")
