"""A trained run, opened for the lecture views: its model with the newest good weights, the
train rows it learnt from (standardised as in training), its loss, and its store.

    t = open_trained("20261127-120000-poly-1a2b", runs_dir="runs")
    t.model, t.x, t.y, t.loss_fn, t.loss_name, t.param_names, t.store_path

`landscape RUN` and `graph RUN --sample i` use it; it assembles the run's parts exactly as
training did (`assembly.assemble`), then loads the checkpoint's weights, so nothing is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..assembly import assemble
from ..inference import load_weights
from ..runfolder import RunFolder


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
    spec = folder.rebuild_spec(needs=["model", "data", "loss", "step"],
                               hint="the lecture views need a run whose model, data and loss have names or files")
    found = load_weights(folder)
    parts = assemble(spec)
    initial = {k: v.detach().clone() for k, v in parts.model.state_dict().items()}
    parts.model.load_state_dict(found.state["model"])
    x, y = parts.train
    return TrainedRun(folder.run_id, folder.path, folder.store_path, parts.model, x, y, parts.loss_name,
                      parts.loss_fn, parts.param_names, found.step, spec, initial)
