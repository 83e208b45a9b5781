"""A batch meets the model: how inputs are passed, and the user's own step function.

    out = call_model(model, inputs)        # model(x), model(*inputs) or model(**inputs)
    batch = join_batch(x, y, layout)       # (x, y), (x1, ..., y), {..., 'label': y} or x, as the data gave it
    loss = step_fn(model, batch)           # the user's step: (model, batch) -> scalar loss

A step function is the Lightning `training_step` idea as one function: it receives the model
and the batch as the data yields it, and returns the loss to minimise; learnsys does
zero_grad, backward and step, records the loss, checkpoints and resumes as for any run.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from .data.dataset import Layout
from .errors import ModelError
from .userclass import load_user_object


def call_model(model: torch.nn.Module, inputs: Any) -> Any:
    if isinstance(inputs, torch.Tensor):
        return model(inputs)
    if isinstance(inputs, dict):
        return model(**inputs)
    return model(*inputs)


def join_batch(x: Any, y: torch.Tensor | None, layout: Layout) -> Any:
    """Inputs and target put back together as the data set's items are laid out."""
    if layout.kind == "tensor" or y is None and layout.kind != "dict":
        return x
    if layout.kind == "dict":
        return {**x, layout.target_key: y} if layout.target_key is not None else dict(x)
    if layout.kind == "tuple":
        return (*x, y)
    return x, y


def load_step(name: str) -> Callable:
    fn = load_user_object(name, "step", ModelError)
    if not callable(fn):
        raise ModelError(f"--step {name} is not a function; give one (model, batch) -> scalar loss.")
    return fn


def check_step(step_fn: Callable, model: torch.nn.Module, batch: Any) -> None:
    """Call the step on one batch (no gradients) and check it returns a scalar loss tensor."""
    name = getattr(step_fn, "__qualname__", type(step_fn).__name__)
    try:
        value = step_fn(model, batch)
    except Exception as e:
        raise ModelError(f"The step function {name} raised {type(e).__name__} on the first batch: "
                         f"{str(e).splitlines()[0] if str(e) else ''}.") from None
    if not (isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point()):
        what = f"a tensor of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise ModelError(f"The step function {name} returned {what}, not a scalar loss; return e.g. "
                         "loss_fn(model(x), y), a 0-dim float tensor.")
