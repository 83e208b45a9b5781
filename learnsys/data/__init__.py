"""Data: where it comes from, how it is split and scaled, and the two paths that feed the loop.

    ds = load_data("lecture")                 # DataSet (tensors in memory) or LazyData (a Dataset)
    ds = as_data(my_dataset_or_arrays, source="<arrays>")
    train, dev = split(ds, spec.dev, spec.seed)
    scaler = Standardizer.fit(train.x)        # fitted on the train part only
    feed = MemoryFeed(x, y, batch_size=B, shuffle=True, seed=0)     # or LoaderFeed(lazy, ...)
    xb, yb = feed.batch(epoch, i)             # a pure function of (seed, epoch, i)

Modules: dataset.py (DataSet, Python objects as data), lazy.py (LazyData over a map-style
Dataset), sources.py (built-in sets, files, user functions), order.py (the seeded split and
per-epoch permutation), prepare.py (split, Standardizer), feed.py (the feeding paths).
"""

from .dataset import DataSet, as_dataset, check_finite, map_tensors, tensors_of
from .feed import LoaderFeed, MemoryFeed
from .lazy import LazyData, as_lazy
from .order import dev_indices, draw_torch_order_seed, epoch_order, epoch_permutation, split_indices
from .prepare import Standardizer, split
from .sources import BUILTIN_LECTURE, BUILTIN_NAMES, LECTURE_X, SYNTHETIC_SETS, as_data, load_data, read_csv

__all__ = ["DataSet", "as_dataset", "check_finite", "map_tensors", "tensors_of", "LoaderFeed", "MemoryFeed",
           "LazyData", "as_lazy", "dev_indices", "draw_torch_order_seed", "epoch_order", "epoch_permutation", "split_indices", "Standardizer", "split", "BUILTIN_LECTURE",
           "BUILTIN_NAMES", "LECTURE_X", "SYNTHETIC_SETS", "as_data", "load_data", "read_csv"]
