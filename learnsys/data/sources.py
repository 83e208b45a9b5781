"""Where data comes from: built-in sets, files (.csv, .npz, .pt) and a user's function.

    ds = load_data("lecture5")                         # the lecture listings' data (lecture, lecture2, 4, 5)
    ds = load_data("runs.csv", target=["y"])           # a CSV with a header row
    ds = load_data("data.npz")                          # arrays x, y (any shape) or named arrays
    ds = load_data("my_data.py:make", data_args={"n": 100})   # whatever the function returns

Each returns a `DataSet` held in memory, or a `LazyData` over a map-style
`torch.utils.data.Dataset` (items loaded when the loop asks for them). Problems raise one
DataError line that says what and where.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..datasets import BUNDLED_SETS, load_bundled
from ..errors import DataError
from ..userclass import load_user_object
from .dataset import DataSet, as_dataset, check_finite
from .lazy import LazyData, as_lazy

LECTURE_X = [1.0, 2.0, 3.0]
BUILTIN_LECTURE = {                        # y at x = 1, 2, 3, named by the lecture listing that uses it
    "lecture": [2.0, 4.0, 6.0],            # lectures 2-3: y = 2x (the slides; lecture 3's GD and SGD)
    "lecture2": [2.02, 3.98, 6.01],        # lecture 2's exhaustive-search listing
    "lecture4": [1.98, 4.12, 5.95],        # lecture 4's back-propagation listing (w1·x² + w2·x + b)
    "lecture5": [1.98, 4.12, 5.95],        # lecture 5's linear regression listing: the default data
}
RENAMED = {"lecture-noisy": "lecture2", "lecture-quadratic": "lecture5"}   # old name -> name
SYNTHETIC_SETS = ("synthetic-linear", "synthetic-classes", "synthetic-images")
IMAGE_SETS = {"digits-images": "digits"}   # a bundled set served as images (its item shape), e.g. (N, 1, 8, 8)
BUILTIN_NAMES = (*BUILTIN_LECTURE, *SYNTHETIC_SETS, *BUNDLED_SETS, *IMAGE_SETS)
SYNTHETIC_ARGS = {"size": 1000, "features": 1, "noise": 0.1, "classes": 3, "seed": 0}
IMAGE_ARGS = {"channels": 1, "height": 8, "width": 8}   # synthetic-images: (N, C, H, W) with class labels


# -- loading ---------------------------------------------------------------------------

def load_data(name: str, *, target: list[str] | None = None, data_args: dict | None = None) -> DataSet | LazyData:
    """Load a built-in set, a file or a user function's data; one DataError line saying what and where."""
    if name in RENAMED:
        logging.getLogger("learnsys").warning(f"data set {name!r} is now called {RENAMED[name]!r} (the lecture "
                                              "listing that uses it); the old name still works for now.")
        name = RENAMED[name]
    if ":" in name and not Path(name).suffix.lower() in (".csv", ".npz", ".pt"):
        return _user_function(name, data_args or {}, target)
    if data_args and name not in SYNTHETIC_SETS:
        raise DataError(f"data_args {data_args} given, but data set {name!r} takes none; they are options of the "
                        f"synthetic sets ({', '.join(SYNTHETIC_SETS)}) and of --data path/to/file.py:function.")
    if name in BUILTIN_LECTURE:
        x = torch.tensor([[v] for v in LECTURE_X])                  # (3, 1), as in lecture 5
        y = torch.tensor([[v] for v in BUILTIN_LECTURE[name]])      # (3, 1)
        ds = DataSet(x, y, ["x"], ["y"], 0, name)
    elif name in SYNTHETIC_SETS:
        ds = _synthetic(name, data_args or {})
    elif name in BUNDLED_SETS or name in IMAGE_SETS:
        ds = _bundled(name)
    else:
        path = Path(name)
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".npz", ".pt"):
            raise DataError(f"Unknown data set {name!r}: use one of {', '.join(BUILTIN_NAMES)}, a path to a .csv, "
                            ".npz or .pt file, or path/to/file.py:function.")
        if not path.exists():
            raise DataError(f"Data file {path} does not exist. Check the path given to --data.")
        ds = _csv(path, target or []) if suffix == ".csv" else _npz(path, target) if suffix == ".npz" else \
            _torch_file(path, target)
    check_finite(ds)
    return ds


def read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    """The header and the cells (float64, (rows, columns)) of a CSV file with a header row;
    one DataError line for an unreadable, empty, ragged or non-numeric file."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as e:
        raise DataError(f"Data file {path} is not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}): "
                        "save it as CSV UTF-8, or pass a .npz or .pt file.") from None
    except OSError as e:
        raise DataError(f"Cannot read data file {path}: {e.strerror or e}.") from None
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


def _npz(path: Path, target: list[str] | None) -> DataSet:
    """Arrays `x` and `y` of any shape (integer `y`: class ids), or named arrays: the target is
    `--target NAME` or one named y/target/label(s), the rest are the model's keyword inputs."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:
        raise DataError(f"Cannot read data file {path} as .npz: {e}.") from None
    if set(arrays) == {"x", "y"} and not target:
        return as_dataset((arrays["x"], arrays["y"]), source=str(path))
    return as_dataset(arrays, source=str(path), target_key=_one_target(target, path))


def _torch_file(path: Path, target: list[str] | None) -> DataSet:
    """A `torch.save`d dict, tuple or tensor of tensors (read with weights_only=True: no code runs)."""
    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:
        raise DataError(f"Cannot read data file {path} with torch.load(weights_only=True): "
                        f"{str(e).splitlines()[0][:200]}.") from None
    return as_dataset(obj, source=str(path), target_key=_one_target(target, path))


def _one_target(target: list[str] | None, path: Path) -> str | None:
    if target and len(target) > 1:
        raise DataError(f"Data file {path}: --target names one array, not {len(target)}.")
    return target[0] if target else None


def _user_function(name: str, args: dict, target: list[str] | None) -> DataSet | LazyData:
    """`path/to/file.py:function` or `package.module:function`, called with `data_args`."""
    fn = load_user_object(name, "data")
    if not callable(fn):
        raise DataError(f"{name} is not a function; --data path/to/file.py:function needs one that returns the data.")
    try:
        data = fn(**args)
    except Exception as e:
        raise DataError(f"The data function {name}(**{args}) raised {type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''}.") from None
    return as_data(data, source=name, target_key=target[0] if target else None)


def as_data(data: Any, *, source: str, target_key: str | None = None) -> DataSet | LazyData:
    """Python data as what the loop can feed: a map-style Dataset stays lazy, the rest in memory."""
    if isinstance(data, LazyData):
        return data
    if isinstance(data, torch.utils.data.Dataset) and not isinstance(data, torch.utils.data.TensorDataset):
        return as_lazy(data, source=source)
    if isinstance(data, torch.utils.data.TensorDataset):
        data = tuple(data.tensors)
    return as_dataset(data, source=source, target_key=target_key)


def _synthetic(name: str, args: dict) -> DataSet:
    allowed = {**SYNTHETIC_ARGS, **(IMAGE_ARGS if name == "synthetic-images" else {})}
    unknown = set(args) - set(allowed)
    if unknown:
        raise DataError(f"Unknown data_args {sorted(unknown)} for {name}; allowed: {', '.join(allowed)}.")
    a = {**allowed, **args}
    for key in ("size", "features", "classes", *(IMAGE_ARGS if name == "synthetic-images" else ())):
        if not isinstance(a[key], int) or a[key] < 1:
            raise DataError(f"data_args.{key} = {a[key]!r} must be an integer >= 1.")
    if not isinstance(a["noise"], (int, float)) or not a["noise"] >= 0:
        raise DataError(f"data_args.noise = {a['noise']!r} must be a number >= 0.")
    g = torch.Generator().manual_seed(int(a["seed"]))
    if name == "synthetic-images":  # each class a random template image, each sample its template plus noise
        shape = (a["channels"], a["height"], a["width"])
        templates = torch.rand(a["classes"], *shape, generator=g)                      # (K, C, H, W)
        labels = torch.randint(0, a["classes"], (a["size"],), generator=g)             # (N,)
        images = templates[labels] + a["noise"] * torch.randn(a["size"], *shape, generator=g)
        return DataSet(images, labels, [], ["class"], a["classes"], name)
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
    return DataSet(x, labels, names, ["class"], k, name)


def _bundled(name: str) -> DataSet:
    b = load_bundled(IMAGE_SETS.get(name, name))  # the numbers scikit-learn's load_<name>() gives
    x = torch.from_numpy(b.x.astype(np.float32))                                         # (N, F)
    if name in IMAGE_SETS:
        x = x.reshape(x.shape[0], *b.item_shape)                                         # (N, C, H, W)
    if b.n_classes == 0:
        return DataSet(x, torch.from_numpy(b.y.astype(np.float32))[:, None], b.feature_names, b.target_names, 0,
                       name)
    y = torch.from_numpy(b.y)                                                            # (N,) int64 class ids
    return DataSet(x, y, [] if name in IMAGE_SETS else b.feature_names, b.target_names, b.n_classes, name,
                   list(b.class_names))