"""Shared fixtures: a fresh runs dir per test and an in-process CLI runner."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_addoption(parser):
    parser.addoption("--gpu", action="store_true", help="also run the tests marked gpu (benchmarks/gpu_check.sh)")


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` need an NVIDIA GPU: they run with --gpu (benchmarks/gpu_check.sh) and are
    deselected otherwise, named in the summary; --gpu on a machine without one is an error."""
    if config.getoption("--gpu"):
        import torch

        if not torch.cuda.is_available():
            raise pytest.UsageError("--gpu: no CUDA device here; the gpu tests need an NVIDIA GPU")
        return
    kept = [item for item in items if "gpu" not in item.keywords]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if "gpu" in item.keywords])
        items[:] = kept


def load_example(name: str):
    """Import `examples/<name>.py` as a module (the lecture twins are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs"


@pytest.fixture
def cli(capsys):
    """Run `learnsys ARGS` in this process; returns (exit code, stdout, stderr)."""
    from learnsys.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def run_cli_process(*args: str, cwd: Path | None = None, timeout: float = 120, env: dict | None = None) -> CliResult:
    """Run `python -m learnsys ARGS` as a real process (for exit codes, tracebacks, signals)."""
    proc = subprocess.run([sys.executable, "-m", "learnsys", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
