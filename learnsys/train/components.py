"""The optimiser and the learning-rate scheduler of a run: by name, by class, or from a factory.

    build_optimizer("adam", params, 0.01, {"betas": (0.9, 0.99)})
    build_optimizer(my_factory, params, 0.01, {})          # a callable params -> Optimizer
    build_scheduler("StepLR", optimizer, {"step_size": 10}, total_steps=1000, interval="epoch")
    build_scheduler(lambda opt: LambdaLR(opt, lambda e: 0.9 ** e), optimizer, {}, ...)

Each builder checks its input where it enters, names the bad value and what is allowed, and
refuses up front what cannot work in this loop (an optimiser that needs a closure or sparse
gradients, a schedule shorter than the run), instead of failing at step 1.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from ..errors import SpecError
from ..userclass import load_user_class

# Optimisers whose `step` needs what a fit loop of forward/backward/step does not give.
NEEDS = {"lbfgs": "a closure that re-evaluates the loss (optimizer.step(closure))",
         "sparseadam": "sparse gradients (nn.Embedding(sparse=True)); use adam for dense parameters"}


def _classes(module, base) -> dict[str, type]:
    return {name.lower(): cls for name, cls in vars(module).items()
            if isinstance(cls, type) and issubclass(cls, base) and cls is not base and not name.startswith("_")}


def _optimizer_class(name: str) -> type:
    classes = _classes(torch.optim, torch.optim.Optimizer)
    if ":" in name:  # a user's optimiser: path/to/file.py:Class or package.module:Class
        return load_user_class(name, torch.optim.Optimizer, "a torch.optim.Optimizer", "optimizer", SpecError)
    cls = classes.get(name.lower())
    if cls is None:
        raise SpecError(f"Unknown optimizer {name!r}; use one of {', '.join(sorted(classes))}, or a user "
                        "torch.optim.Optimizer as path/to/file.py:Class or package.module:Class.")
    return cls


def build_optimizer(given: Any, params, lr: float, args: dict) -> torch.optim.Optimizer:
    """`given`: a name, an Optimizer class, or a callable `params -> Optimizer` (which sets its own lr)."""
    params = list(params)
    if isinstance(given, str) or isinstance(given, type):
        cls = _optimizer_class(given) if isinstance(given, str) else given
        if cls.__name__.lower() in NEEDS:
            raise SpecError(f"Optimizer {cls.__name__} needs {NEEDS[cls.__name__.lower()]}, which learnsys's "
                            "loop does not give; choose another optimizer.")
        try:
            return cls(params, lr=lr, **args)
        except (TypeError, ValueError) as e:
            raise SpecError(f"Optimizer {cls.__name__} with optimizer_args {args}: {e}.") from None
    if not callable(given):
        raise SpecError(f"optimizer {given!r} is not a name, an Optimizer class or a function params -> Optimizer.")
    try:
        optimizer = given(params)
    except Exception as e:
        raise SpecError(f"The optimizer factory {getattr(given, '__qualname__', given)!r} raised "
                        f"{type(e).__name__}: {e}.") from None
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise SpecError(f"The optimizer factory returned {type(optimizer).__name__}, not a torch.optim.Optimizer.")
    return optimizer


def _scheduler_class(name: str) -> type:
    base = torch.optim.lr_scheduler.LRScheduler
    classes = {n: c for n, c in _classes(torch.optim.lr_scheduler, base).items() if not inspect.isabstract(c)}
    cls = classes.get(name.lower())
    if cls is None:
        raise SpecError(f"Unknown scheduler {name!r}; use one of {', '.join(sorted(c.__name__ for c in classes.values()))}.")
    return cls


def is_plateau(scheduler: Any) -> bool:
    return isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)


def build_scheduler(given: Any, optimizer: torch.optim.Optimizer, args: dict, *, total_steps: int,
                    interval: str, steps_per_epoch: int):
    """`given`: '' (none), a name, a scheduler class, or a callable `optimizer -> scheduler`."""
    if given == "" or given is None:
        if args:
            raise SpecError(f"scheduler_args {args} given without a scheduler; set --scheduler too.")
        return None
    if isinstance(given, (str, type)):
        cls = _scheduler_class(given) if isinstance(given, str) else given
        _check_args(cls, args, total_steps, interval, steps_per_epoch)
        try:
            scheduler = cls(optimizer, **args)
        except (TypeError, ValueError, ZeroDivisionError) as e:
            raise SpecError(f"Scheduler {cls.__name__} with scheduler_args {args}: {e}.") from None
    elif callable(given):
        try:
            scheduler = given(optimizer)
        except Exception as e:
            raise SpecError(f"The scheduler factory {getattr(given, '__qualname__', given)!r} raised "
                            f"{type(e).__name__}: {e}.") from None
        if not hasattr(scheduler, "step") or not hasattr(scheduler, "state_dict"):
            raise SpecError(f"The scheduler factory returned {type(scheduler).__name__}, not an lr scheduler.")
    else:
        raise SpecError(f"scheduler {given!r} is not a name, a scheduler class or a function optimizer -> scheduler.")
    if is_plateau(scheduler) and interval == "step":
        raise SpecError("ReduceLROnPlateau steps on a metric once per epoch (the dev loss, else the train epoch "
                        "loss); use --scheduler-interval epoch.")
    return scheduler


def _check_args(cls: type, args: dict, total_steps: int, interval: str, steps_per_epoch: int) -> None:
    """What the scheduler would accept and then fail on during the run."""
    name = cls.__name__
    if name == "StepLR" and isinstance(args.get("step_size"), int) and args["step_size"] < 1:
        raise SpecError(f"StepLR step_size = {args['step_size']} must be >= 1 (it divides the step count).")
    if name == "OneCycleLR":
        calls = total_steps if interval == "step" else -(-total_steps // steps_per_epoch)
        given = args.get("total_steps")
        if given is None and "epochs" in args:
            given = args["epochs"] * args.get("steps_per_epoch", 1)
        if isinstance(given, int) and given < calls:
            raise SpecError(f"OneCycleLR total_steps = {given} is shorter than the run's {calls} scheduler steps "
                            f"({interval}s); pass scheduler_args total_steps={calls}, or shorten the run.")


def fast_zero_grad(optimizer: torch.optim.Optimizer):
    """`optimizer.zero_grad()` as torch's own optimisers do it by default (every gradient set to
    None), without the profiler range and dynamo guard torch wraps around each call: about 6 µs a
    step on the CPU, a tenth of a lecture 5 step (docs/performance.md). An optimiser class with
    its own zero_grad (in its class, or set on the instance) keeps it."""
    if getattr(optimizer.zero_grad, "__func__", None) is not torch.optim.Optimizer.zero_grad:
        return optimizer.zero_grad

    def zero_grad() -> None:
        for group in optimizer.param_groups:   # read each call: load_state_dict replaces the groups
            for p in group["params"]:
                p.grad = None
    return zero_grad
