"""The one builder of a run's parts: its data, model and loss, from a RunSpec.

Every verb assembles what it needs here: `train` and `resume` (through `train/build.py`,
which adds the device, optimiser and scheduler), `search`, `graph`, `gradcheck`, and the
lecture views of a trained run. So a model name, a data set or `--loss auto` means the same
thing everywhere, and a bad one is refused with the same line.

    parts = assemble(spec)                           # by name, as the spec says
    parts = assemble(spec, model=net, data=ds)       # Python objects the spec cannot name
    parts.train, parts.dev                           # (x, y) tensors as the loop sees them
    parts.model, parts.loss_fn, parts.loss_name, parts.n_outputs

The order is the listing's: the data is loaded and split, python's and numpy's generators are
seeded, `torch.manual_seed(seed)` comes right before the model is built (the lecture's initial
weights), then `init` sets named scalars. Then the model runs on one row (eval mode, no grad,
no RNG draws) so a shape problem is one line before anything is written.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
import torch

from .data import DataSet, Standardizer, dev_indices, from_arrays, load_data, split
from .errors import DataError, ModelError
from .losses import build_loss, check_loss_fits, n_outputs_for, prepare_targets, resolve_loss_name
from .models import apply_init, build_model, count_parameters, scalar_names
from .origin import ARRAYS, Origin, object_label
from .spec import RunSpec


@dataclass
class Parts:
    spec: RunSpec
    data: DataSet                                    # the whole data set, as loaded
    train: tuple[torch.Tensor, torch.Tensor]         # (N, F), (N, T) or (N,) class ids
    dev: tuple[torch.Tensor, torch.Tensor] | None
    scaler: Standardizer
    model: torch.nn.Module
    loss_name: str
    loss_fn: torch.nn.Module
    n_outputs: int
    param_names: list[str] = field(default_factory=list)   # scalar names for <= 16 scalars, else []

    def meta(self) -> dict:
        """What inference needs besides the weights; saved as meta.json in the run folder."""
        return {**self.data.meta(), "loss": self.loss_name, "scaler": self.scaler.state_dict(),
                "n_outputs": self.n_outputs, "n_parameters": count_parameters(self.model),
                "scalar_names": self.param_names, "train_rows": self.train[0].shape[0],
                "dev_rows": 0 if self.dev is None else self.dev[0].shape[0],
                "dev_indices": dev_indices(self.data.n_rows, self.spec.dev, self.spec.seed)}


def spec_and_objects(model: str | torch.nn.Module, data: str | DataSet | tuple, fields: dict, *,
                     where: str = "keyword arguments") -> tuple[RunSpec, torch.nn.Module | None, DataSet | None, Origin]:
    """The Python face's arguments (a model name or module, a data name, path, DataSet or arrays
    (x, y), and RunSpec fields as keywords) as a validated spec plus the objects it cannot name."""
    model_obj = model if isinstance(model, torch.nn.Module) else None
    data_obj, data_given = None, None
    if isinstance(data, DataSet):
        data_obj, data_given = data, "arrays"
    elif not isinstance(data, str):
        data_obj, data_given = from_arrays(data), "arrays"
    values = dict(fields, model=object_label(model_obj) if model_obj is not None else model,
                  data=ARRAYS if data_obj is not None else data)
    spec = RunSpec.from_dict(values, where=where)
    return spec, model_obj, data_obj, Origin.of(spec, model_object=model_obj, data_given=data_given)


def model_for(spec: RunSpec, n_features: int, n_outputs: int) -> torch.nn.Module:
    """The spec's model by name, with the spec's `init` applied (not seeded: callers decide)."""
    model = build_model(spec.model, n_features, n_outputs, spec.model_args)
    apply_init(model, spec.init)
    return model


def assemble(spec: RunSpec, *, model: torch.nn.Module | None = None, data: DataSet | None = None,
             dtype: torch.dtype | None = None) -> Parts:
    """The spec's parts; `dtype` (e.g. float64 for the lecture views) converts the model and the
    float tensors after the model is built, so the seeded initial weights stay the listing's."""
    dataset = data if data is not None else load_data(spec.data, target=spec.target, data_args=spec.data_args)
    train, dev = split(dataset, spec.dev, spec.seed)
    scaler = Standardizer.fit(train.x) if spec.standardize else Standardizer()
    loss_name = resolve_loss_name(spec.loss, spec.model, dataset.n_classes)
    check_loss_fits(loss_name, dataset.n_classes, dataset.source)
    n_out = n_outputs_for(loss_name, dataset.y.shape[1], dataset.n_classes)
    # python's and numpy's generators too, so a model or callback that draws from them is
    # reproducible, and an uninterrupted run is one well-defined thing to resume into
    random.seed(spec.seed)
    np.random.seed(spec.seed)
    if model is None:
        torch.manual_seed(spec.seed)  # right before the model is built: the listing's initial weights
        model = model_for(spec, dataset.n_features, n_out)
    else:
        apply_init(model, spec.init)
    if dtype is not None:
        model.to(dtype)

    def tensors(part: DataSet) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = scaler(part.x), prepare_targets(part.y, loss_name)        # (N, F), (N, T) or (N,)
        if dtype is not None:
            x, y = x.to(dtype), (y.to(dtype) if y.is_floating_point() else y)
        return x, y

    parts = Parts(spec, dataset, tensors(train), None if dev is None else tensors(dev), scaler, model, loss_name,
                  build_loss(loss_name), n_out, scalar_names(model))
    check_fit(parts)
    return parts


def check_fit(parts: Parts) -> None:
    """Run the model on the first row (eval mode, no grad, no RNG draws) and compare shapes."""
    x, y = parts.train
    model = parts.model
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x[:1])
    except Exception as e:
        raise DataError(f"Model {parts.spec.model!r} cannot take the data's {x.shape[1]} feature(s) "
                        f"({type(e).__name__}: {str(e).splitlines()[0]}). Check --model and the data's columns.") from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor):
        raise ModelError(f"Model {parts.spec.model!r} returned {type(out).__name__}, not a tensor.")
    expected = (1, parts.n_outputs) if parts.loss_name == "cross-entropy" else (1, *y.shape[1:])
    if tuple(out.shape) != expected:
        raise DataError(f"Model {parts.spec.model!r} outputs shape {tuple(out.shape)[1:]} per row, but the "
                        f"{parts.loss_name} loss needs {expected[1:]} for data {parts.data.source!r}.")
