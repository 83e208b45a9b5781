"""Class labels: when targets are class ids, how many classes there are, and checking them.

    ds = with_classes(ds, classes="auto", wants_classes=False)   # integer targets are classes
    ds = with_classes(ds, classes=10, wants_classes=True)         # float 0., 1., ... become ids

Integer targets are class ids (their number is max + 1, or `classes` when given). Float
targets stay regression targets unless `classes = N` is given or the loss needs classes
(cross-entropy, bce): then they must be whole numbers >= 0 in one column. Labels outside
0..N-1 are refused with the row that holds one.
"""

from __future__ import annotations

import torch

from ..errors import DataError
from .dataset import DataSet
from .lazy import LazyData, split_item


def _check_ids(y: torch.Tensor, n_classes: int, source: str) -> None:
    bad = (y < 0) | (y >= n_classes)
    if bad.any():
        row = int(bad.nonzero()[0])
        raise DataError(f"Data set {source}: label {int(y[row])} in data row {row + 1} is out of range for "
                        f"{n_classes} classes (0..{n_classes - 1}); fix the label or pass --classes with the right "
                        "number.")


def _float_to_ids(y: torch.Tensor, source: str) -> torch.Tensor:
    if y.ndim == 2 and y.shape[1] != 1:
        raise DataError(f"Data set {source}: class labels must be one column, not {y.shape[1]} targets.")
    flat = y.reshape(-1)
    whole = flat == flat.round()
    if not whole.all():
        row = int((~whole).nonzero()[0])
        raise DataError(f"Data set {source}: the loss needs class ids (0, 1, 2, ...), but data row {row + 1} has the "
                        f"label {flat[row].item():.6g}. Use a regression loss (mse), or give whole-number labels.")
    return flat.to(torch.int64)


def count_classes(lazy: LazyData) -> int:
    """Read every item's label once (for a Dataset that does not say how many classes it has)."""
    top = -1
    for i in lazy.indices.tolist():
        _, label = split_item(lazy.dataset[i], lazy.layout)
        top = max(top, int(label))
    return top + 1


def with_classes(data: DataSet | LazyData, classes, wants_classes: bool) -> DataSet | LazyData:
    """`data` with its class decision made (see the module docstring); `classes` is 'auto' or N."""
    if isinstance(data, LazyData):
        if not (data.target_is_class or wants_classes or classes != "auto"):
            return data
        n = classes if classes != "auto" else data.n_classes or count_classes(data)
        data.n_classes, data.target_is_class = n, True
        if len(data.class_names) != n:
            data.class_names = []
        return data
    if data.y is None:
        return data
    y, n = data.y, data.n_classes
    if n == 0 and (wants_classes or classes != "auto"):
        y = _float_to_ids(y, data.source)
        n = int(y.max()) + 1
    if n and classes != "auto":
        n = classes
    if n:
        _check_ids(y, n, data.source)
    if y is data.y and n == data.n_classes:
        return data
    names = data.class_names if len(data.class_names) == n else []
    return DataSet(data.x, y, data.feature_names, ["class"] if n else data.target_names, n, data.source, names)
