"""Write learnsys/datasets/: the bundled data sets, read once from scikit-learn.

    python scripts/bundle_datasets.py            # (re)write the .csv.gz files and manifest.json
    python scripts/bundle_datasets.py --check    # rebuild in memory; exit 1 if a committed byte differs

Needs scikit-learn (the test extra has it); learnsys itself never does. Each set becomes one
gzip'd CSV: a `#` line with the column names, then one row per sample, the features and then
the target. Floats are written with repr(), which reads back as the same float64, so
`load_bundled(name)` returns exactly what scikit-learn's `load_<name>()` returns; this script
reads every file back and checks that before it writes anything. The gzip header carries no
time and no file name, so the bytes depend on the data alone and `--check` compares them.

`breast_cancer8` is derived here for lecture 7 (8 features -> 6 -> 4 -> 1, BCELoss), whose
course file (the Pima Indians diabetes set) has no clear licence and is not bundled: the
first eight columns of breast_cancer (the mean of each cell measurement), each scaled to
[-1, 1] by min-max as the course's file is, written with 6 significant digits.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "learnsys" / "datasets"
UCI = "https://archive.ics.uci.edu/dataset/"
UCI_LICENCE = "CC BY 4.0 (UCI Machine Learning Repository); scikit-learn's copy: BSD-3-Clause"

SOURCES = {
    "diabetes": ("Efron, Hastie, Johnstone, Tibshirani (2004), Least Angle Regression, Annals of Statistics 32(2); "
                 "https://www4.stat.ncsu.edu/~boos/var.select/diabetes.html; scaled as scikit-learn's load_diabetes",
                 "BSD-3-Clause (scikit-learn's copy); the publication states no licence of its own"),
    "iris": ("Fisher (1936); " + UCI + "53/iris; scikit-learn's copy, which corrects two values of the UCI file",
             UCI_LICENCE),
    "wine": ("Forina et al., PARVUS; " + UCI + "109/wine", UCI_LICENCE),
    "breast_cancer": ("Wolberg, Street, Mangasarian (1995), Breast Cancer Wisconsin (Diagnostic); " + UCI +
                      "17/breast+cancer+wisconsin+diagnostic", UCI_LICENCE),
    "digits": ("Alpaydin, Kaynak (1998), Optical Recognition of Handwritten Digits; " + UCI +
               "80/optical+recognition+of+handwritten+digits; scikit-learn's copy (the 1797 test images)",
               UCI_LICENCE),
    "breast_cancer8": ("derived from breast_cancer: its first 8 columns (the mean measurements) scaled to [-1, 1] "
                       "by min-max, 6 significant digits; target as breast_cancer (0 malignant, 1 benign)",
                       "CC BY 4.0, as breast_cancer (changes stated here)"),
}
ITEM_SHAPES = {"digits": [1, 8, 8]}


def sklearn_sets() -> dict[str, dict]:
    """Each set as scikit-learn gives it: x (N, F) float64, y (N,), names and class names."""
    from sklearn import datasets

    sets = {}
    for name in ("diabetes", "iris", "wine", "breast_cancer", "digits"):
        bunch = getattr(datasets, f"load_{name}")()
        regression = name == "diabetes"
        sets[name] = {
            "x": np.asarray(bunch.data), "y": np.asarray(bunch.target),
            "feature_names": [str(n) for n in bunch.feature_names],
            "target": "target" if regression else "class",
            "classes": [] if regression else [str(c) for c in bunch.target_names],
        }
    cancer = sets["breast_cancer"]
    x = cancer["x"][:, :8]                                              # (569, 8)
    lo, hi = x.min(0), x.max(0)
    scaled = 2.0 * (x - lo) / (hi - lo) - 1.0                           # each column in [-1, 1]
    scaled = np.array([[float(f"{v:.6g}") for v in row] for row in scaled])
    sets["breast_cancer8"] = {**cancer, "x": scaled, "feature_names": cancer["feature_names"][:8]}
    return sets


def _cell(v: float, integral: bool) -> str:
    return str(int(v)) if integral else repr(float(v))


def csv_text(s: dict, name: str) -> str:
    columns = [*s["feature_names"], s["target"]]
    if any("," in c for c in columns):
        raise SystemExit(f"{name}: a column name contains a comma: {columns}")
    table = np.column_stack([s["x"], s["y"]])                           # (N, F + 1)
    integral = [bool(np.all(col == np.round(col)) and np.all(np.abs(col) < 2**53)) for col in table.T]
    lines = ["# " + ",".join(columns)]
    for row in table:
        lines.append(",".join(_cell(v, integral[j]) for j, v in enumerate(row)))
    return "\n".join(lines) + "\n"


def gzip_bytes(text: str) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as f:
        f.write(text.encode("utf-8"))
    return buf.getvalue()


def read_back(text: str) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64, ndmin=2)
    return table[:, :-1], table[:, -1]


def build() -> tuple[dict[str, bytes], dict]:
    files, manifest = {}, {"format": 1, "generator": "scripts/bundle_datasets.py", "sets": {}}
    for name, s in sklearn_sets().items():
        text = csv_text(s, name)
        x, y = read_back(text)
        if not (np.array_equal(x, s["x"]) and np.array_equal(y, s["y"])):
            raise SystemExit(f"{name}: the CSV text does not read back to scikit-learn's numbers")
        data = gzip_bytes(text)
        fname = f"{name}.csv.gz"
        files[fname] = data
        source, licence = SOURCES[name]
        manifest["sets"][name] = {
            "file": fname, "sha256": hashlib.sha256(data).hexdigest(),
            "rows": int(x.shape[0]), "features": int(x.shape[1]), "classes": s["classes"],
            "item_shape": ITEM_SHAPES.get(name, [int(x.shape[1])]), "source": source, "licence": licence,
        }
    files["manifest.json"] = (json.dumps(manifest, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    return files, manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    parser.add_argument("--out", type=Path, default=OUT, help="folder to write to (default: learnsys/datasets)")
    args = parser.parse_args(argv)
    files, manifest = build()
    if args.check:
        differ = [f for f, data in files.items() if not (args.out / f).is_file() or (args.out / f).read_bytes() != data]
        for f in differ:
            print(f"differs: {args.out / f}", file=sys.stderr)
        return 1 if differ else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for f, data in files.items():
        (args.out / f).write_bytes(data)
    total = sum(len(d) for d in files.values())
    for name, m in manifest["sets"].items():
        print(f"{name:15} {m['rows']:5} rows x {m['features']:2} features  {len(files[m['file']]):7,} bytes")
    print(f"total {total:,} bytes in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
