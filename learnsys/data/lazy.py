"""`LazyData`: a map-style `torch.utils.data.Dataset` whose items are loaded when the loop asks.

    lazy = as_lazy(MyDataset(...), source="my_data.py:make")
    lazy.n_rows, lazy.item_shape, lazy.n_classes          # from probing the first and last items
    train = lazy.rows(train_idx)                          # a view on some rows (the split)
    inputs, target = split_item(lazy.dataset[0], lazy.layout)

Items may be a pair `(x, y)`, a tuple `(x1, x2, ..., y)` (the model takes `*inputs`), a dict
(the target is the key named by `--target`, or y/target/label(s); the model takes the rest as
keyword arguments), or a lone tensor (no target: the model or a step function computes the
loss). Iterable datasets are refused: without random access a resume in the middle of an epoch
could not be exact (docs/data.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

import torch

from ..errors import DataError
from .dataset import TARGET_KEYS, DataSet, Layout, map_tensors, tensors_of


def layout_of(item: Any, target_key: str | None = None) -> Layout:
    if isinstance(item, dict):
        key = target_key or next((k for k in TARGET_KEYS if k in item), None)
        if target_key is not None and target_key not in item:
            raise DataError(f"Dataset items have no key {target_key!r} (--target); they have {', '.join(map(str, item))}.")
        return Layout("dict", key)
    if isinstance(item, (tuple, list)):
        if len(item) < 2:
            raise DataError(f"Dataset items are a {type(item).__name__} of {len(item)}; give (x, y) pairs, "
                            "(x1, ..., y) tuples, dicts of tensors or lone tensors.")
        return Layout("pair" if len(item) == 2 else "tuple")
    if isinstance(item, torch.Tensor):
        return Layout("tensor")
    raise DataError(f"Dataset items are {type(item).__name__}; give (x, y) pairs, (x1, ..., y) tuples, dicts of "
                    "tensors or lone tensors.")


def split_item(item: Any, layout: Layout) -> tuple[Any, Any]:
    """(inputs, target) of one item or one collated batch."""
    if layout.kind == "pair":
        return item[0], item[1]
    if layout.kind == "tuple":
        return tuple(item[:-1]), item[-1]
    if layout.kind == "dict":
        inputs = {k: v for k, v in item.items() if k != layout.target_key}
        return inputs, (item[layout.target_key] if layout.target_key is not None else None)
    return item, None


def _shape(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return tuple(_shape(v) for v in value)
    return type(value).__name__


@dataclass
class LazyData:
    dataset: torch.utils.data.Dataset
    indices: torch.Tensor                 # (N,) the rows of `dataset` this part uses
    layout: Layout
    item_shape: tuple[int, ...]           # one input's shape, () for structured inputs
    n_classes: int = 0
    target_is_class: bool = False
    source: str = ""
    collate_fn: Callable | None = None
    feature_names: list[str] = field(default_factory=list)
    target_names: list[str] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)   # the Dataset's `.classes`, when it has them

    @property
    def n_rows(self) -> int:
        return int(self.indices.shape[0])

    @property
    def n_features(self) -> int:
        n = 1
        for s in self.item_shape:
            n *= s
        return n if self.item_shape else 0

    def rows(self, index: torch.Tensor) -> "LazyData":
        return replace(self, indices=self.indices[index])

    def meta(self) -> dict:
        return {"feature_names": self.feature_names, "target_names": self.target_names, "n_classes": self.n_classes,
                "n_features": self.n_features, "item_shape": list(self.item_shape), "source": self.source,
                "class_names": self.class_names, "lazy": True}


def item(dataset: torch.utils.data.Dataset, index: int) -> Any:
    """`dataset[index]`, with a failure named by its index."""
    try:
        return dataset[index]
    except Exception as e:
        raise DataError(f"Dataset item {index} could not be loaded: {type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''}. Fix __getitem__ for that index.") from None


def as_lazy(dataset: torch.utils.data.Dataset, *, source: str, target_key: str | None = None,
            collate_fn: Callable | None = None) -> LazyData:
    """Probe a map-style Dataset (its first and last items) and describe it."""
    if isinstance(dataset, torch.utils.data.IterableDataset) or not hasattr(dataset, "__len__"):
        raise DataError(f"Data set {source} is an iterable dataset (no len() and random access); learnsys needs a "
                        "map-style Dataset (__len__ and __getitem__) so that resuming mid-epoch is exact. Wrap it "
                        "in a map-style Dataset, or load it into tensors.")
    try:
        n = len(dataset)
    except Exception as e:
        raise DataError(f"len() of data set {source} raised {type(e).__name__}: {e}.") from None
    if n == 0:
        raise DataError(f"Data set {source} is empty: len() is 0. Give a Dataset with at least one item.")
    first, last = item(dataset, 0), item(dataset, n - 1)
    layout = layout_of(first, target_key)
    if collate_fn is None and _shape(first) != _shape(last):
        raise DataError(f"Items of data set {source} change shape: item 0 is {_shape(first)}, item {n - 1} is "
                        f"{_shape(last)}. Make every item one shape, or pass a collate_fn that pads them.")
    inputs, target = split_item(first, layout)
    item_shape = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else ()
    is_class = isinstance(target, int) or (isinstance(target, torch.Tensor) and not target.is_floating_point())
    return LazyData(dataset, torch.arange(n), layout, item_shape, _known_classes(dataset) if is_class else 0,
                    is_class, source, collate_fn, target_names=["class" if is_class else "y"] if target is not None
                    else [], class_names=_class_names(dataset) if is_class else [])


def _class_names(dataset: Any) -> list[str]:
    """The class names a dataset states as `.classes` (torchvision's sets do), else []."""
    classes = getattr(dataset, "classes", None)
    return [str(c) for c in classes] if isinstance(classes, (list, tuple)) else []


def _known_classes(dataset: Any) -> int:
    """The number of classes a dataset states (`.classes`, or `.targets` as torchvision sets have),
    else 0: the builder counts them, or takes `--classes N`."""
    classes = getattr(dataset, "classes", None)
    if isinstance(classes, (list, tuple)) and classes:
        return len(classes)
    targets = getattr(dataset, "targets", None)
    if targets is not None:
        try:
            return int(torch.as_tensor(targets).max()) + 1
        except (TypeError, ValueError, RuntimeError):
            return 0
    return 0


class _Rows(torch.utils.data.Dataset):
    """Tensors in memory served item by item (`--feed loader` on in-memory data)."""

    def __init__(self, ds: DataSet):
        self.x, self.y, self.layout = ds.x, ds.y, ds.layout

    def __len__(self) -> int:
        return tensors_of(self.x)[0].shape[0]

    def __getitem__(self, i: int) -> Any:
        x = map_tensors(self.x, lambda t: t[i])
        if self.y is None:
            return x
        if self.layout.kind == "dict":
            return {**x, self.layout.target_key: self.y[i]}
        return (*x, self.y[i]) if self.layout.kind == "tuple" else (x, self.y[i])


def from_memory(ds: DataSet) -> LazyData:
    """A DataSet fed through the DataLoader path: the same rows, item by item."""
    return LazyData(_Rows(ds), torch.arange(ds.n_rows), ds.layout, ds.item_shape, ds.n_classes, ds.n_classes > 0,
                    ds.source, None, ds.feature_names, ds.target_names, ds.class_names)
