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
from ..errors import ModelError, SpecError
from ..losses import CLASSIFIERS
from ..spec import RunSpec
from . import components
from .distributed import Distributed
from .plan import plan_steps


@dataclass
class Built(Parts):
    device: torch.device = torch.device("cpu")
    optimizer: torch.optim.Optimizer | None = None
    scheduler: Any = None
    train_feed: Any = None
    dev_feed: Any = None
    warnings: list[str] = field(default_factory=list)
    dist: Distributed | None = None          # torchrun: this process's place in the group
    ddp: torch.nn.Module | None = None       # ... and the DDP wrapper the training step runs through

    @property
    def n_train(self) -> int:
        return self.train_feed.n_rows


def _mps() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(name: str) -> torch.device:
    """`auto` (cuda, else mps, else cpu), `cpu`, `cuda`, `cuda:N` or `mps`, checked against this machine."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if _mps() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelError(f"device = {name!r} but no CUDA device is available; use --device cpu or auto.")
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ModelError(f"device = {name!r} but this machine has {torch.cuda.device_count()} CUDA device(s) "
                             f"(cuda:0..cuda:{torch.cuda.device_count() - 1}).")
    if name == "mps" and not _mps():
        raise ModelError("device = 'mps' but Apple's Metal backend is not available here; use --device cpu or auto.")
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


def build(spec: RunSpec, objects: dict | None = None, dist: Distributed | None = None) -> Built:
    """The run's parts on the device with optimiser, scheduler and feeds; with `dist` (torchrun)
    the model is wrapped in DistributedDataParallel and the train feed sharded by rank."""
    parts = assemble(spec, objects)
    spec = parts.spec
    device = dist.device_for(spec.device) if dist is not None else resolve_device(spec.device)
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
    if not parts.lazy and (spec.workers or spec.pin_memory):
        given = [f for f, on in ((f"--workers {spec.workers}", spec.workers), ("--pin-memory", spec.pin_memory)) if on]
        warnings.append(f"{' and '.join(given)} {'have' if len(given) > 1 else 'has'} no effect: the data is in memory, and batches are taken from its tensors "
                        "(--feed loader reads it through a DataLoader instead; docs/data.md).")
    for watch, text in ((EarlyStopping, spec.early_stop), (BestSoFar, spec.keep_best)):  # before anything is written
        watch.for_run(text, has_dev=parts.dev is not None, classifier=parts.loss_name in CLASSIFIERS)
    train_feed, dev_feed = feeds(parts, device, plan.batch_size)
    ddp = None
    if dist is not None:
        if plan.batch_size < dist.world:
            raise SpecError(f"batch_size {plan.batch_size} is smaller than the {dist.world} processes; each needs "
                            "rows of every batch. Use a batch size of at least the world size.")
        train_feed.shard(dist.rank, dist.world)
        ddp = torch.nn.parallel.DistributedDataParallel(parts.model, device_ids=[device.index]
                                                        if device.type == "cuda" else None)
    fields = {name: getattr(parts, name) for name in Parts.__dataclass_fields__}
    return Built(**fields, device=device, optimizer=optimizer, scheduler=scheduler, train_feed=train_feed,
                 dev_feed=dev_feed, warnings=warnings, dist=dist, ddp=ddp)


def _rows(pair: tuple) -> int:
    return tensors_of(pair[0])[0].shape[0]
