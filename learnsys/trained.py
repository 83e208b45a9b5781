"""A trained run, opened for the lecture views: its model with the newest good weights, the
train rows it learnt from (standardised as in training), its loss, and its store.

    t = open_trained("20261127-120000-poly-1a2b", runs_dir="runs")
    t.model, t.x, t.y, t.loss_fn, t.loss_name, t.param_names, t.store_path

`landscape RUN` and `graph RUN --sample i` use it; it rebuilds the run's parts exactly as
training did (`train.build`), then loads the checkpoint, so nothing is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from .errors import LearnsysError
from .runfolder import RunFolder
from .train.build import build
from .train.checkpoint import Checkpointer


@dataclass
class TrainedRun:
    run_id: str
    folder: Path
    store_path: Path
    model: torch.nn.Module
    x: torch.Tensor                 # (N, F) the train rows, standardised as in training
    y: torch.Tensor                 # (N, T), or (N,) class ids for cross-entropy
    loss_name: str
    loss_fn: Callable
    param_names: list[str]          # scalar names for models with <= 16 scalars, else []
    step: int
    spec: object
    initial: dict[str, torch.Tensor]   # the parameters before training (seeded, then init), for the path's start


def open_trained(run: str, runs_dir: str | Path = "runs") -> TrainedRun:
    folder = RunFolder.find(str(run), runs_dir)
    spec = folder.spec()
    if spec.model.startswith("<"):
        raise LearnsysError(f"Run {folder.run_id} was trained on a Python model object; the lecture views need a "
                            "model by name or file (path/to/file.py:Class).")
    if spec.data == "<arrays>":
        spec = spec.replace(data=str(folder.path / "data.npz"))
    built = build(spec.replace(device="cpu"))
    found, _ = Checkpointer(folder.checkpoints).latest()
    if found is None:
        raise LearnsysError(f"Run {folder.run_id} has no trained model yet. Run `learnsys train` "
                            f"(or `learnsys resume {folder.run_id}`) first.")
    initial = {k: v.detach().clone() for k, v in built.model.state_dict().items()}
    built.model.load_state_dict(found.state["model"])
    x, y = built.train
    return TrainedRun(folder.run_id, folder.path, folder.store_path, built.model, x, y, built.loss_name,
                      built.loss_fn, built.param_names, found.step, spec, initial)
