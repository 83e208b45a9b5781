"""Comparisons shared by the resume tests: two runs are the same run, bit for bit."""

from __future__ import annotations

from pathlib import Path

import torch

from learnsys.train.checkpoint import Checkpointer

# every part of the train state that decides the numbers from here on
STATE_PARTS = ("model", "optimizer", "scheduler", "progress", "rng", "guard", "callbacks")


def assert_bitwise(a, b, where: str = "state") -> None:
    """Equal structure, and every tensor torch.equal with the same dtype and shape."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            assert_bitwise(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_bitwise(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def newest_state(run_folder: Path) -> tuple[int, dict]:
    found, warnings = Checkpointer(Path(run_folder) / "checkpoints").latest()
    assert found is not None and not warnings, warnings
    return found.step, found.state


def assert_same_state(folder_a: Path, folder_b: Path) -> None:
    step_a, a = newest_state(folder_a)
    step_b, b = newest_state(folder_b)
    assert step_a == step_b
    for part in STATE_PARTS:
        assert_bitwise(a[part], b[part], part)
