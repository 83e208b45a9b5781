"""The data sets that ship with learnsys: small gzip'd CSV files, read without scikit-learn.

    s = load_bundled("digits")
    s.x                # (1797, 64) float64: exactly scikit-learn's load_digits().data
    s.y                # (1797,) int64 class ids; float64 targets for a regression set (n_classes 0)
    s.item_shape       # (1, 8, 8): a row seen as an image; (F,) for a table
    s.class_names      # ['0', ..., '9']; [] for regression
    bundled_path("breast_cancer8")   # the file itself, for np.loadtxt as a lecture listing reads it

Each file is a `#` line with the column names, then one row per sample: the features, then
the target. `manifest.json` beside the files holds each one's checksum, shape, class names,
source and licence (README.md says the same for people); both are written by
`scripts/bundle_datasets.py`, which reads the sets from scikit-learn once. A file that does
not match the manifest (a damaged install) is reported in one line, never half-read.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, RunFailure

HERE = Path(__file__).resolve().parent
# in the order docs/datasets.md lists them; tests/test_datasets.py keeps it equal to the manifest
BUNDLED_SETS = ("diabetes", "iris", "wine", "breast_cancer", "digits", "breast_cancer8")


@dataclass(frozen=True)
class BundledSet:
    name: str
    x: np.ndarray                       # (N, F) float64
    y: np.ndarray                       # (N,) int64 class ids, or float64 targets when n_classes == 0
    feature_names: list[str]
    target_names: list[str]             # the target column's name: ['class'] or ['target']
    class_names: list[str]              # one per class; [] for regression
    n_classes: int                      # 0: regression
    item_shape: tuple[int, ...]         # one row as the model may see it: (C, H, W) for images, (F,) else
    source: str
    licence: str


def manifest() -> dict:
    """Every bundled set's facts, by name: file, sha256, rows, features, classes, item_shape,
    source, licence."""
    try:
        return json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))["sets"]
    except (OSError, ValueError, KeyError) as e:
        raise RunFailure(f"The bundled data sets' manifest {HERE / 'manifest.json'} cannot be read ({e}); "
                         "reinstall learnsys.") from None


def bundled_path(name: str) -> Path:
    return HERE / _entry(name)["file"]


def load_bundled(name: str) -> BundledSet:
    """One bundled set, checked against its manifest entry (checksum and shape)."""
    entry = _entry(name)
    path = HERE / entry["file"]
    try:
        raw = path.read_bytes()
        if hashlib.sha256(raw).hexdigest() != entry["sha256"]:
            raise ValueError("its checksum does not match manifest.json")
        text = gzip.decompress(raw).decode("utf-8")
        header, _, body = text.partition("\n")
        table = np.loadtxt(io.StringIO(body), delimiter=",", dtype=np.float64, ndmin=2)  # (N, F + 1)
    except (OSError, EOFError, ValueError, zlib.error, UnicodeDecodeError) as e:
        raise RunFailure(f"Bundled data set {name!r} ({path}) cannot be read: {e}. Reinstall learnsys, or "
                         "rebuild the files with scripts/bundle_datasets.py.") from None
    columns = [c.strip() for c in header.lstrip("#").split(",")]
    if table.shape != (entry["rows"], entry["features"] + 1) or len(columns) != table.shape[1]:
        raise RunFailure(f"Bundled data set {name!r} ({path}) has shape {table.shape} and {len(columns)} column "
                         f"names; manifest.json says {entry['rows']} rows and {entry['features']} features. "
                         "Reinstall learnsys.")
    n_classes = len(entry["classes"])
    y = table[:, -1].astype(np.int64) if n_classes else table[:, -1].copy()
    return BundledSet(name, np.ascontiguousarray(table[:, :-1]), y, columns[:-1], [columns[-1]],
                      list(entry["classes"]), n_classes, tuple(entry["item_shape"]), entry["source"],
                      entry["licence"])


def _entry(name: str) -> dict:
    if name not in BUNDLED_SETS:
        raise DataError(f"Unknown bundled data set {name!r}; use one of {', '.join(BUNDLED_SETS)}.")
    entries = manifest()
    if name not in entries:
        raise RunFailure(f"Bundled data set {name!r} is missing from {HERE / 'manifest.json'}; reinstall learnsys.")
    return entries[name]
