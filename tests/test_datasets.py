"""The bundled data sets: exactly scikit-learn's numbers, rebuilt byte for byte by the script,
small, licensed and documented; a damaged file is one line and exit 1, no run."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import learnsys.datasets as bundled
from learnsys.data import BUILTIN_NAMES, load_data
from learnsys.datasets import BUNDLED_SETS, bundled_path, load_bundled, manifest
from learnsys.errors import DataError, RunFailure

from .conftest import REPO

SKLEARN_NAMES = ("diabetes", "iris", "wine", "breast_cancer", "digits")


def _sklearn(name: str):
    from sklearn import datasets  # the test extra has it; learnsys does not need it

    return getattr(datasets, f"load_{name}")()


@pytest.mark.parametrize("name", SKLEARN_NAMES)
def test_each_bundled_set_is_exactly_scikit_learns(name):
    bunch, s = _sklearn(name), load_bundled(name)
    assert s.x.dtype == bunch.data.dtype == np.float64 and np.array_equal(s.x, bunch.data)
    assert s.y.dtype == bunch.target.dtype and np.array_equal(s.y, bunch.target)
    assert s.feature_names == [str(n) for n in bunch.feature_names]
    if name == "diabetes":
        assert (s.n_classes, s.class_names, s.target_names) == (0, [], ["target"])
    else:
        assert s.class_names == [str(c) for c in bunch.target_names] and s.n_classes == len(bunch.target_names)
        assert s.target_names == ["class"] and set(s.y.tolist()) == set(range(s.n_classes))


@pytest.mark.parametrize("name", SKLEARN_NAMES)
def test_load_data_gives_what_it_gave_through_scikit_learn(name):
    """The tensors data.py built from scikit-learn before the bundle, rebuilt here as it did."""
    bunch, ds = _sklearn(name), load_data(name)
    assert torch.equal(ds.x, torch.from_numpy(np.asarray(bunch.data, dtype=np.float32)))
    if name == "diabetes":
        assert torch.equal(ds.y, torch.from_numpy(np.asarray(bunch.target, dtype=np.float32))[:, None])
    else:
        assert torch.equal(ds.y, torch.from_numpy(np.asarray(bunch.target, dtype=np.int64)))   # (N,) class ids
    assert ds.n_classes == (0 if name == "diabetes" else int(bunch.target.max()) + 1)
    assert ds.feature_names == [str(n) for n in bunch.feature_names] and ds.source == name


def test_digits_rows_are_its_8x8_images():
    s = load_bundled("digits")
    assert s.item_shape == (1, 8, 8) and s.n_classes == 10 and s.x.shape == (1797, 64)
    assert np.array_equal(s.x.reshape(-1, *s.item_shape)[:, 0], _sklearn("digits").images)
    assert all(load_bundled(n).item_shape == (load_bundled(n).x.shape[1],) for n in BUNDLED_SETS if n != "digits")


def test_breast_cancer8_is_the_first_eight_columns_scaled_to_plus_minus_one():
    bunch, s = _sklearn("breast_cancer"), load_bundled("breast_cancer8")
    x = bunch.data[:, :8]
    scaled = 2 * (x - x.min(0)) / (x.max(0) - x.min(0)) - 1
    assert s.x.shape == (569, 8) and np.abs(s.x - scaled).max() <= 5e-7 * np.abs(scaled).max()  # 6 digits
    assert s.x.min() == -1.0 and s.x.max() == 1.0 and np.array_equal(s.y, bunch.target)
    assert s.feature_names == [str(n) for n in bunch.feature_names[:8]] and s.class_names == ["malignant", "benign"]


def test_breast_cancer8_reads_the_same_as_the_lecture_listings_read_it():
    """Lectures 7-8 read the file as the course does, `np.loadtxt(..., dtype=np.float32)`; learnsys
    reads float64 and converts: the same float32 values, so a twin starts from the same data."""
    xy = np.loadtxt(bundled_path("breast_cancer8"), delimiter=",", dtype=np.float32)     # (569, 9)
    ds = load_data("breast_cancer8")
    assert torch.equal(ds.x, torch.from_numpy(xy[:, :-1]))
    assert torch.equal(ds.y, torch.from_numpy(xy[:, -1]).long())   # class ids; the listing's 0./1. floats
    assert "breast_cancer8" in BUILTIN_NAMES and ds.n_classes == 2


def test_the_script_rebuilds_every_file_byte_for_byte():
    proc = subprocess.run([sys.executable, "scripts/bundle_datasets.py", "--check"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_the_script_reports_a_changed_file(tmp_path):
    out = tmp_path / "datasets"
    shutil.copytree(bundled.HERE, out, ignore=shutil.ignore_patterns("__*"))
    (out / "iris.csv.gz").write_bytes(b"changed")
    proc = subprocess.run([sys.executable, "scripts/bundle_datasets.py", "--check", "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.strip() == f"differs: {out / 'iris.csv.gz'}"


def test_the_manifest_names_every_set_with_checksum_size_and_licence():
    entries = manifest()
    assert tuple(entries) == BUNDLED_SETS
    files = sorted(p.name for p in bundled.HERE.glob("*.csv.gz"))
    assert files == sorted(e["file"] for e in entries.values())
    for name, e in entries.items():
        data = (bundled.HERE / e["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == e["sha256"], name
        assert e["source"] and e["licence"] and ("CC BY 4.0" in e["licence"] or "BSD-3-Clause" in e["licence"])
    total = sum(p.stat().st_size for p in bundled.HERE.iterdir() if p.is_file())
    assert total < 300_000, f"the bundle is {total:,} bytes; keep it a few hundred KB"
    licence = (bundled.HERE / "LICENSE").read_text(encoding="utf-8")
    assert "BSD 3-Clause" in licence and "scikit-learn developers" in licence and "CC BY 4.0" in licence


@pytest.mark.parametrize("doc", ["learnsys/datasets/README.md", "docs/datasets.md"])
def test_the_docs_list_every_set_with_its_rows_features_and_licence(doc):
    text = (REPO / doc).read_text(encoding="utf-8")
    for name, e in manifest().items():
        row = next((line for line in text.splitlines() if line.startswith(f"| `{name}` |")), None)
        assert row is not None, f"{doc} has no table row for {name}"
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert cells[1] == str(e["rows"]) and cells[2].split()[0] == str(e["features"]), (doc, name, cells)
        assert cells[3] == (str(len(e["classes"])) if e["classes"] else "regression"), (doc, name, cells)
        assert ("CC BY 4.0" in e["licence"]) == ("CC BY 4.0" in cells[5]), (doc, name)


def _copy_bundle(tmp_path: Path, monkeypatch) -> Path:
    here = tmp_path / "bundle"
    shutil.copytree(bundled.HERE, here, ignore=shutil.ignore_patterns("__*"))
    monkeypatch.setattr(bundled, "HERE", here)
    return here


@pytest.mark.parametrize("damage", ["truncated", "altered", "manifest"])
def test_a_damaged_bundled_file_is_one_line_exit_1_and_no_run(damage, cli, runs_dir, tmp_path, monkeypatch):
    here = _copy_bundle(tmp_path, monkeypatch)
    f = here / "iris.csv.gz"
    if damage == "truncated":
        f.write_bytes(f.read_bytes()[:200])
    elif damage == "altered":
        data = bytearray(f.read_bytes())
        data[-12] ^= 1
        f.write_bytes(bytes(data))
    else:
        (here / "manifest.json").write_text("{", encoding="utf-8")
    result = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--data", "iris", "--epochs", "1")
    lines = result.err.strip().splitlines()
    assert result.code == 1 and len(lines) == 1 and "Traceback" not in result.err, result.err
    assert lines[0].startswith("error: ") and "reinstall learnsys" in lines[0].lower()
    assert "iris" in lines[0] or "manifest" in lines[0]
    assert not runs_dir.exists() or not [p for p in runs_dir.iterdir() if p.is_dir()]


def test_a_file_whose_shape_disagrees_with_the_manifest_is_refused(tmp_path, monkeypatch):
    here = _copy_bundle(tmp_path, monkeypatch)
    m = json.loads((here / "manifest.json").read_text(encoding="utf-8"))
    m["sets"]["iris"]["rows"] = 151
    (here / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    with pytest.raises(RunFailure, match=r"Bundled data set 'iris' .* has shape \(150, 5\).*151 rows"):
        load_bundled("iris")


def test_an_unknown_bundled_name_lists_the_bundled_sets():
    with pytest.raises(DataError, match="Unknown bundled data set 'mnist'; use one of diabetes, iris"):
        load_bundled("mnist")
