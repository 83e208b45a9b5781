"""A run ready to train: its parts (`assembly.assemble`) on the device, with optimiser and scheduler.

`build(spec)` checks everything before anything is written: any problem raises a
LearnsysError, so a bad input never leaves a half-made run folder behind.

    built = build(spec)                      # Built: Parts + device, optimizer, scheduler, warnings
    Trainer(model=built.model, optimizer=built.optimizer, train=built.train, ...)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..assembly import Parts, assemble
from ..data import DataSet
from ..errors import ModelError
from ..spec import RunSpec
from . import components


@dataclass
class Built(Parts):
    device: torch.device = torch.device("cpu")
    optimizer: torch.optim.Optimizer | None = None
    scheduler: Any = None
    warnings: list[str] = field(default_factory=list)


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError("device = 'cuda' but no CUDA device is available; use --device cpu or auto.")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build(spec: RunSpec, *, model: torch.nn.Module | None = None, data: DataSet | None = None) -> Built:
    parts = assemble(spec, model=model, data=data)
    device = resolve_device(spec.device)
    parts.model.to(device)  # before the optimiser is made: its state lives beside the parameters
    optimizer = components.build_optimizer(spec.optimizer, parts.model.parameters(), spec.lr, spec.optimizer_args)
    scheduler = components.build_scheduler(spec.scheduler, optimizer, spec.scheduler_args)
    on_device = lambda pair: None if pair is None else tuple(t.to(device) for t in pair)  # noqa: E731
    n_train = parts.train[0].shape[0]
    warnings = []
    if isinstance(spec.batch_size, int) and spec.batch_size > n_train:
        warnings.append(f"batch_size = {spec.batch_size} is larger than the {n_train} train rows; "
                        "using full batches (gradient descent).")
    fields = {name: getattr(parts, name) for name in Parts.__dataclass_fields__}
    return Built(**{**fields, "train": on_device(parts.train), "dev": on_device(parts.dev)}, device=device,
                 optimizer=optimizer, scheduler=scheduler, warnings=warnings)
