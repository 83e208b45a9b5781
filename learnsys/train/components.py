"""The parts a run is made of, built from a RunSpec: loss, optimiser, scheduler, targets.

Each builder checks its input where it enters and names the bad value and what is allowed.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

from ..errors import SpecError
from ..userclass import load_user_class

LOSSES = ("mse", "mae", "bce", "cross-entropy")


def resolve_loss_name(spec_loss: str, model_name: str, n_classes: int) -> str:
    if spec_loss != "auto":
        if spec_loss not in LOSSES:
            raise SpecError(f"Unknown loss {spec_loss!r}; use one of {', '.join(LOSSES)} or auto.")
        return spec_loss
    if model_name == "logistic":
        return "bce"
    if model_name == "softmax" or n_classes > 0:
        return "cross-entropy"
    return "mse"


def build_loss(name: str) -> nn.Module:
    return {"mse": nn.MSELoss, "mae": nn.L1Loss, "bce": nn.BCEWithLogitsLoss,
            "cross-entropy": nn.CrossEntropyLoss}[name]()


def n_outputs_for(loss_name: str, n_targets: int, n_classes: int) -> int:
    if loss_name == "cross-entropy":
        return n_classes
    return n_targets


def prepare_targets(y: torch.Tensor, loss_name: str) -> torch.Tensor:
    """Targets in the form the loss takes, made once before the loop: class ids for
    cross-entropy (N,), floats (N, T) otherwise."""
    if loss_name == "cross-entropy":
        return y[:, 0].long()  # (N,)
    return y


def accuracy_fn(loss_name: str):
    if loss_name == "cross-entropy":
        return lambda logits, y: (logits.argmax(1) == y).float().mean()     # (N, C) vs (N,)
    if loss_name == "bce":
        return lambda logits, y: ((logits > 0).float() == y).float().mean()  # (N, 1) vs (N, 1)
    return None


def _classes(module, base) -> dict[str, type]:
    return {name.lower(): cls for name, cls in vars(module).items()
            if isinstance(cls, type) and issubclass(cls, base) and cls is not base and not name.startswith("_")}


def build_optimizer(name: str, params, lr: float, args: dict) -> torch.optim.Optimizer:
    classes = _classes(torch.optim, torch.optim.Optimizer)
    if ":" in name:  # a user's optimiser: path/to/file.py:Class or package.module:Class
        cls = load_user_class(name, torch.optim.Optimizer, "a torch.optim.Optimizer", "optimizer", SpecError)
    else:
        cls = classes.get(name.lower())
    if cls is None:
        raise SpecError(f"Unknown optimizer {name!r}; use one of {', '.join(sorted(classes))}, or a user "
                        "torch.optim.Optimizer as path/to/file.py:Class or package.module:Class.")
    try:
        return cls(params, lr=lr, **args)
    except (TypeError, ValueError) as e:
        raise SpecError(f"Optimizer {cls.__name__} with optimizer_args {args}: {e}.") from None


def build_scheduler(name: str, optimizer: torch.optim.Optimizer, args: dict):
    if not name:
        if args:
            raise SpecError(f"scheduler_args {args} given without a scheduler; set --scheduler too.")
        return None
    base = torch.optim.lr_scheduler.LRScheduler
    classes = {n: c for n, c in _classes(torch.optim.lr_scheduler, base).items() if not inspect.isabstract(c)}
    cls = classes.get(name.lower())
    if cls is None:
        names = sorted(c.__name__ for c in classes.values())
        raise SpecError(f"Unknown scheduler {name!r}; use one of {', '.join(names)}.")
    try:
        return cls(optimizer, **args)
    except (TypeError, ValueError) as e:
        raise SpecError(f"Scheduler {cls.__name__} with scheduler_args {args}: {e}.") from None
