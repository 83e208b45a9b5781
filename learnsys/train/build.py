"""A run ready to train: its parts (`assembly.assemble`) on the device, fed by one of the two
feeding paths, with its optimiser and scheduler.

`build(spec)` checks everything before anything is written: any problem raises a
LearnsysError, so a bad input never leaves a half-made run folder behind.

    built = build(spec, objects)    # Built: Parts + device, train/dev feeds, optimizer, scheduler
    Trainer(model=built.model, optimizer=built.optimizer, train=built.train_feed, ...)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..assembly import Parts, assemble
from ..data import LoaderFeed, MemoryFeed, map_tensors, tensors_of
from ..early_stop import BestSoFar, EarlyStopping
from ..errors import ModelError
from ..losses import CLASSIFIERS
from ..spec import RunSpec
from . import components
from .plan import plan_steps


@dataclass
class Built(Parts):
    device: torch.device = torch.device("cpu")
    optimizer: torch.optim.Optimizer | None = None
    scheduler: Any = None
    train_feed: Any = None
    dev_feed: Any = None
    warnings: list[str] = field(default_factory=list)

    @property
    def n_train(self) -> int:
        return self.train_feed.n_rows


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError("device = 'cuda' but no CUDA device is available; use --device cpu or auto.")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def feeds(parts: Parts, device: torch.device, batch_size: int) -> tuple[Any, Any]:
    """The train and dev feeds: tensors moved to the device once (memory), or a DataLoader."""
    spec = parts.spec
    if parts.lazy:
        make = lambda lazy, shuffle: None if lazy is None else LoaderFeed(  # noqa: E731
            lazy, batch_size=batch_size, shuffle=shuffle, seed=spec.seed, workers=spec.workers,
            pin_memory=spec.pin_memory, device=device, target_fn=parts.target_fn())
        return make(parts.train, spec.shuffle), make(parts.dev, False)
    on_device = lambda pair: tuple(None if t is None else _to(t, device) for t in pair)  # noqa: E731
    train = MemoryFeed(*on_device(parts.train), batch_size=batch_size, shuffle=spec.shuffle, seed=spec.seed)
    dev = None if parts.dev is None else MemoryFeed(*on_device(parts.dev), batch_size=_rows(parts.dev),
                                                    shuffle=False, seed=spec.seed)
    return train, dev


def _to(x: Any, device: torch.device) -> Any:
    return map_tensors(x, lambda t: t.to(device))


def build(spec: RunSpec, objects: dict | None = None) -> Built:
    parts = assemble(spec, objects)
    spec = parts.spec
    device = resolve_device(spec.device)
    parts.model.to(device)  # before the optimiser is made: its state lives beside the parameters
    n_train = parts.train.n_rows if parts.lazy else _rows(parts.train)
    plan = plan_steps(spec, n_train)
    optimizer = components.build_optimizer(parts.objects.get("optimizer", spec.optimizer), parts.model.parameters(),
                                           spec.lr, spec.optimizer_args)
    scheduler = components.build_scheduler(parts.objects.get("scheduler", spec.scheduler), optimizer,
                                           spec.scheduler_args, total_steps=plan.total_steps,
                                           interval=spec.scheduler_interval, steps_per_epoch=plan.batches_per_epoch)
    warnings = []
    if isinstance(spec.batch_size, int) and spec.batch_size > n_train:
        warnings.append(f"batch_size = {spec.batch_size} is larger than the {n_train} train rows; "
                        "using full batches (gradient descent).")
    for watch, text in ((EarlyStopping, spec.early_stop), (BestSoFar, spec.keep_best)):  # before anything is written
        watch.for_run(text, has_dev=parts.dev is not None, classifier=parts.loss_name in CLASSIFIERS)
    train_feed, dev_feed = feeds(parts, device, plan.batch_size)
    fields = {name: getattr(parts, name) for name in Parts.__dataclass_fields__}
    return Built(**fields, device=device, optimizer=optimizer, scheduler=scheduler, train_feed=train_feed,
                 dev_feed=dev_feed, warnings=warnings)


def _rows(pair: tuple) -> int:
    return tensors_of(pair[0])[0].shape[0]
