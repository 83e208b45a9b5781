"""The optimiser and the learning-rate scheduler of a run, built from a RunSpec.

Each builder checks its input where it enters and names the bad value and what is allowed.
"""

from __future__ import annotations

import inspect

import torch

from ..errors import SpecError
from ..userclass import load_user_class


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
