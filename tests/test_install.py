"""The lean install: learnsys trains on every built-in set and runs its lecture views with
scikit-learn, SciPy and matplotlib not importable; `--png` without matplotlib is one line that
names the install; the core requirements are six packages and torch has no upper bound; the
wheel carries the data files; scripts/check_newest_torch.sh checks its arguments."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from learnsys.datasets import BUNDLED_SETS, manifest

from .conftest import REPO

NO_EXTRAS = """
import importlib.machinery, sys
EXTRAS = ("sklearn", "scipy", "matplotlib")

class NoExtras(importlib.machinery.PathFinder):
    # as if they were not installed: find_spec answers None, as it does for a missing package
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        return None if name.split(".")[0] in EXTRAS else super().find_spec(name, path, target)

sys.meta_path[:] = [NoExtras if f is importlib.machinery.PathFinder else f for f in sys.meta_path]

import contextlib, io, json
from learnsys.cli import main
results = []
for args in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(args)
    results.append({"code": code, "err": err.getvalue()})
assert not [m for m in sys.modules if m.split(".")[0] in EXTRAS], "an extra was imported"
print(json.dumps(results))
"""


def _without_extras(tmp_path: Path, *commands: list) -> list[dict]:
    """Run `learnsys` commands in one process in which scikit-learn, SciPy and matplotlib are
    not importable; each command's exit code and stderr."""
    script = tmp_path / "no_extras.py"
    script.write_text(NO_EXTRAS, encoding="utf-8")
    argv = json.dumps([[str(a) for a in args] for args in commands])
    proc = subprocess.run([sys.executable, str(script), argv], cwd=tmp_path, capture_output=True, text=True,
                          timeout=240, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_training_on_every_bundled_set_needs_neither_scikit_learn_nor_matplotlib(tmp_path):
    commands = [["train", "--no-ui", "--quiet", "--runs-dir", tmp_path / "runs", "--data", name, "--model",
                 "linear" if name == "diabetes" else "softmax", "--epochs", "1", "--standardize"]
                for name in BUNDLED_SETS]
    for name, result in zip(BUNDLED_SETS, _without_extras(tmp_path, *commands)):
        assert result["code"] == 0, (name, result["err"])


def test_png_without_matplotlib_is_one_line_naming_the_install_and_stores_nothing(tmp_path):
    runs = tmp_path / "runs"
    search, train, landscape = _without_extras(
        tmp_path, ["search", "--grid", "w=0:4:0.5", "--png", tmp_path / "s.png", "--runs-dir", runs],
        ["train", "--no-ui", "--quiet", "--runs-dir", runs, "--epochs", "3", "--run-id", "r1"],
        ["landscape", "r1", "--png", tmp_path / "l.png", "--runs-dir", runs])
    for result in (search, landscape):
        err = result["err"]
        assert result["code"] == 2 and err.count("\n") == 1 and "Traceback" not in err, err
        assert err.startswith("error: --png needs matplotlib") and "pip install 'learnsys[figures]'" in err
    assert train["code"] == 0, train["err"]
    assert [p.name for p in runs.iterdir() if p.is_dir()] == ["r1"]  # the search stored nothing
    assert not (tmp_path / "s.png").exists() and not (tmp_path / "l.png").exists()


def test_the_core_install_is_six_packages_and_torch_has_no_upper_bound():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {d.split(">")[0].split("=")[0].split("<")[0].strip() for d in project["dependencies"]}
    assert names == {"torch", "numpy", "rich", "tomli-w", "starlette", "uvicorn"}
    torch_req = next(d for d in project["dependencies"] if d.startswith("torch"))
    assert torch_req.replace(" ", "") == "torch>=2.3"  # includes 2.13.0 and every newer release
    extras = project["optional-dependencies"]
    assert [d.split(">")[0] for d in extras["figures"]] == ["matplotlib"]
    assert {"matplotlib", "scikit-learn"} <= {d.split(">")[0] for d in extras["test"]}


@pytest.mark.slow
def test_the_wheel_carries_the_bundled_files(tmp_path):
    """Built as pip builds it (no network: the local setuptools): the data files are package data."""
    import zipfile

    src = tmp_path / "src"  # a copy, so that the build leaves nothing in the working tree
    shutil.copytree(REPO / "learnsys", src / "learnsys", ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / f, src / f)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    wheel = next(tmp_path.glob("learnsys-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"learnsys/datasets/{e['file']}" for e in manifest().values()}
    expected |= {f"learnsys/datasets/{f}" for f in ("__init__.py", "manifest.json", "README.md", "LICENSE")}
    assert expected <= names, sorted(expected - names)


def _check_script(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "scripts" / "check_newest_torch.sh"), *args], capture_output=True,
                          text=True, timeout=30, cwd=REPO, env={**os.environ, "TMPDIR": str(tmp)})


def test_check_newest_torch_explains_itself_and_refuses_bad_arguments(tmp_path):
    help_ = _check_script(tmp_path, "--help")
    assert help_.returncode == 0 and 'not slow' in help_.stdout and "--keep DIR" in help_.stdout
    for args, what in ((["--bogus"], "unknown argument '--bogus'"), (["--keep"], "--keep needs a folder")):
        proc = _check_script(tmp_path, *args)
        assert proc.returncode == 2 and proc.stderr.startswith(f"error: {what}") and proc.stderr.count("\n") == 1
    assert not list(tmp_path.iterdir())  # no venv was started
