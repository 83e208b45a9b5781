"""The one builder of a run's parts: its data, model, loss and step, from a RunSpec.

Every verb assembles what it needs here: `train` and `resume` (through `train/build.py`,
which adds the device, the feeds, optimiser and scheduler), `search`, `graph`, `gradcheck`,
and the lecture views of a trained run. So a model name, a data set or `--loss auto` means
the same thing everywhere, and a bad one is refused with the same line.

    spec, objects, origin = spec_and_objects(model, data, {"lr": 0.1})   # the Python face's arguments
    parts = assemble(spec, objects)
    parts.train, parts.dev      # (x, y) tensors on the memory path, LazyData on the loader path
    parts.model, parts.loss_fn, parts.loss_name, parts.n_outputs, parts.step_fn

The order is the listing's: the data is loaded and split, python's and numpy's generators are
seeded, `torch.manual_seed(seed)` comes right before the model is built (the lecture's initial
weights), then `init` sets named scalars. Then the model (or the step function) runs on one
row, in eval mode without gradients, so a shape problem is one line before anything is written.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from .data import DataSet, LazyData, Standardizer, as_data, dev_indices, load_data, map_tensors, split, tensors_of
from .data.labels import with_classes
from .errors import DataError, ModelError
from .losses import (CLASSIFIERS, build_loss, check_loss_fits, criterion, loss_kind, n_outputs_for, prepare_targets,
                     resolve_loss_name)
from .models import apply_init, build_model, count_parameters, scalar_names
from .origin import ARRAYS, Origin, object_label
from .spec import RunSpec
from .steps import call_model, check_step, join_batch, load_step

OBJECT_FIELDS = ("loss", "optimizer", "scheduler", "step")   # spec fields Python may give as objects


@dataclass
class Parts:
    spec: RunSpec
    data: DataSet | LazyData                         # the whole data set, as loaded
    train: Any                                       # (x, y) tensors (memory path) or LazyData (loader path)
    dev: Any                                         # the same for the dev part, or None
    scaler: Standardizer
    model: torch.nn.Module
    loss_name: str                                   # mse | mae | bce | cross-entropy | custom
    loss_fn: Callable | None                         # (output, target) -> scalar
    n_outputs: int
    param_names: list[str] = field(default_factory=list)   # scalar names for <= 16 scalars, else []
    step_fn: Callable | None = None                  # (model, batch) -> scalar loss, the user's own step
    objects: dict = field(default_factory=dict)      # components given as Python objects (optimizer, ...)

    @property
    def lazy(self) -> bool:
        return isinstance(self.train, LazyData)

    @property
    def layout(self):
        """How items and batches are laid out (for a step function's `batch`)."""
        return self.train.layout if self.lazy else self.data.layout

    def target_fn(self) -> Callable:
        """What the loader path applies to each batch's target (the memory path did it once)."""
        name = self.loss_name
        return lambda y: prepare_targets(y, name)

    def meta(self) -> dict:
        """What inference needs besides the weights; saved as meta.json in the run folder."""
        rows = lambda part: 0 if part is None else part.n_rows if self.lazy else tensors_of(part[0])[0].shape[0]  # noqa
        n_train, n_dev = rows(self.train), rows(self.dev)
        return {**self.data.meta(), "loss": self.loss_name, "scaler": self.scaler.state_dict(),
                "n_outputs": self.n_outputs, "n_parameters": count_parameters(self.model),
                "scalar_names": self.param_names, "train_rows": n_train, "dev_rows": n_dev,
                "dev_indices": dev_indices(self.data.n_rows, self.spec.dev, self.spec.seed), "feed": self.spec.feed}


def spec_and_objects(model: Any, data: Any, fields: dict, *,
                     where: str = "keyword arguments") -> tuple[RunSpec, dict, Origin]:
    """The Python face's arguments as a validated spec plus the objects it cannot name: the model
    (a name or an nn.Module), the data (a name or path, arrays, a dict of tensors, a DataSet or a
    torch Dataset), and RunSpec fields, of which loss, optimizer, scheduler and step may be objects
    (an nn.Module or function, an Optimizer class or factory, a scheduler class or factory)."""
    values, objects = dict(fields), {}
    if isinstance(model, torch.nn.Module):
        objects["model"], values["model"] = model, object_label(model)
    else:
        values["model"] = model
    for name in OBJECT_FIELDS:
        value = values.get(name)
        if value is None or isinstance(value, str):
            continue
        if isinstance(value, type) and value.__module__.startswith("torch.optim"):
            values[name] = value.__name__            # a torch class is a name the spec can rebuild
        else:
            objects[name], values[name] = value, object_label(value)
    data_given = None
    if isinstance(data, str):
        values["data"] = data
    else:
        objects["data"] = as_data(data, source=ARRAYS)
        data_given = "object" if isinstance(objects["data"], LazyData) else "arrays"
        values["data"] = ARRAYS if data_given == "arrays" else object_label(data)
    spec = RunSpec.from_dict(values, where=where)
    return spec, objects, Origin.of(spec, objects=objects, data_given=data_given, data_object=data)


def model_for(spec: RunSpec, n_features: int, n_outputs: int, item_shape: tuple | None = None) -> torch.nn.Module:
    """The spec's model by name, with the spec's `init` applied (not seeded: callers decide)."""
    model = build_model(spec.model, n_features, n_outputs, spec.model_args, item_shape=item_shape or None)
    apply_init(model, spec.init)
    return model


def _loss_choice(spec: RunSpec, loss_obj: Any) -> tuple[str, bool]:
    """(the loss as asked, whether it needs class labels) before the data's classes are known."""
    asked = loss_kind(loss_obj) if loss_obj is not None else spec.loss
    wants = asked in CLASSIFIERS or (asked == "auto" and spec.model in ("logistic", "softmax"))
    return asked, wants


def _feed_for(spec: RunSpec, data: DataSet | LazyData) -> str:
    if spec.feed != "auto":
        return spec.feed
    return "loader" if isinstance(data, LazyData) else "memory"


def assemble(spec: RunSpec, objects: dict | None = None, *, dtype: torch.dtype | None = None) -> Parts:
    """The spec's parts; `objects` are parts given from Python (`spec_and_objects`); `dtype`
    (e.g. float64 for the lecture views) converts the model and the float tensors after the
    model is built, so the seeded initial weights stay the listing's."""
    objects = dict(objects or {})
    loss_obj, step_obj = objects.get("loss"), objects.get("step")
    dataset = objects.get("data")
    if dataset is None:
        dataset = load_data(spec.data, target=spec.target, data_args=spec.data_args)
    asked, wants_classes = _loss_choice(spec, loss_obj)
    dataset = with_classes(dataset, spec.classes, wants_classes)
    feed = _feed_for(spec, dataset)
    if feed == "memory" and isinstance(dataset, LazyData):
        dataset = _into_memory(dataset)
    elif feed == "loader" and isinstance(dataset, DataSet):
        from .data.lazy import from_memory
        dataset = from_memory(dataset)
    spec = spec if spec.feed == feed else spec.replace(feed=feed)
    train, dev = split(dataset, spec.dev, spec.seed)
    if spec.standardize and isinstance(train, LazyData):
        raise DataError("standardize works on data held in memory; scale the items in the Dataset itself, or use "
                        "--feed memory.")
    scaler = Standardizer.fit(train.x) if spec.standardize else Standardizer()
    if loss_obj is not None:
        loss_name, base_loss = loss_kind(loss_obj), loss_obj
    elif step_obj is None and not spec.step:
        loss_name = resolve_loss_name(asked, spec.model, dataset.n_classes)
        check_loss_fits(loss_name, dataset.n_classes, dataset.source)
        base_loss = build_loss(loss_name)
    else:
        loss_name, base_loss = "custom", None
    n_targets = 0 if isinstance(dataset, LazyData) or dataset.y is None else \
        (dataset.y.shape[1] if dataset.y.ndim == 2 else 1)
    n_out = n_outputs_for(loss_name, n_targets or 1, dataset.n_classes)
    # python's and numpy's generators too, so a model or callback that draws from them is
    # reproducible, and an uninterrupted run is one well-defined thing to resume into
    random.seed(spec.seed)
    np.random.seed(spec.seed)
    model = objects.get("model")
    if model is None:
        torch.manual_seed(spec.seed)  # right before the model is built: the listing's initial weights
        model = model_for(spec, dataset.n_features, n_out, dataset.item_shape)
    else:
        apply_init(model, spec.init)
    if dtype is not None:
        model.to(dtype)

    def tensors(part: DataSet | LazyData | None):
        if part is None or isinstance(part, LazyData):
            return part
        x, y = scaler(part.x), prepare_targets(part.y, loss_name)   # (N, ...), (N, T) / (N,) / None
        if dtype is not None:
            x, y = x.to(dtype), (y.to(dtype) if y is not None and y.is_floating_point() else y)
        return x, y

    step_fn = step_obj if step_obj is not None else load_step(spec.step) if spec.step else None
    parts = Parts(spec, dataset, tensors(train), tensors(dev), scaler, model, loss_name, base_loss, n_out,
                  scalar_names(model), step_fn, {k: v for k, v in objects.items() if k in OBJECT_FIELDS})
    check_fit(parts)
    return parts


def _into_memory(lazy: LazyData) -> DataSet:
    """Every item of a Dataset, collated once into tensors (`--feed memory`: only for items that
    do not change from epoch to epoch, e.g. no random augmentation)."""
    from .data.lazy import item, split_item

    batch = (lazy.collate_fn or torch.utils.data.default_collate)([item(lazy.dataset, i)
                                                                   for i in lazy.indices.tolist()])
    x, y = split_item(batch, lazy.layout)
    data = (x, y) if y is not None else x
    ds = as_data(data, source=lazy.source) if not isinstance(x, (tuple, dict)) else \
        as_data(join_batch(x, y, lazy.layout), source=lazy.source)
    if lazy.n_classes and ds.n_classes:  # the classes decided for the Dataset, not only those its items show
        ds.n_classes, ds.class_names = lazy.n_classes, lazy.class_names
    return ds


def sample_batch(parts: Parts, rows: int = 1) -> tuple[Any, torch.Tensor | None]:
    """The first train rows as a batch, as the loop will see it."""
    if not parts.lazy:
        x, y = parts.train
        return map_tensors(x, lambda t: t[:rows]), None if y is None else y[:rows]
    from .data.lazy import item, split_item

    lazy = parts.train
    batch = (lazy.collate_fn or torch.utils.data.default_collate)([item(lazy.dataset, int(i))
                                                                   for i in lazy.indices[:rows]])
    x, y = split_item(batch, lazy.layout)
    x = map_tensors(x, lambda t: t.to(torch.float32) if t.dtype == torch.float64 else t)
    return x, prepare_targets(y, parts.loss_name) if y is not None else None


def check_fit(parts: Parts) -> None:
    """Run the model (or the step function) on the first row, in eval mode without gradients and
    without drawing from any RNG, and check its output against the loss and the targets."""
    x, y = sample_batch(parts, rows=2 if parts.step_fn is not None else 1)  # 2: a per-row "loss" shows
    model = parts.model
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if parts.step_fn is not None:
                check_step(parts.step_fn, model, join_batch(x, y, parts.layout))
                return
            out = call_model(model, x)
    except (DataError, ModelError):
        raise
    except Exception as e:
        raise DataError(f"Model {parts.spec.model!r} cannot take the data's {_describe(x)} "
                        f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). Check --model and the "
                        "data.") from None
    finally:
        model.train(was_training)
    parts.loss_fn = criterion(parts.loss_fn, out)
    if parts.loss_fn is None:
        raise ModelError(f"Data set {parts.data.source} has no targets: give a model that returns a dict with a "
                         "'loss', or a step function (--step).")
    _check_output(parts, out, y)


def _describe(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return f"{x.shape[1]} feature(s)" if x.ndim == 2 else f"inputs of shape {tuple(x.shape[1:])} per row"
    if isinstance(x, dict):
        return "inputs (" + ", ".join(f"{k}: {tuple(v.shape[1:])}" for k, v in x.items()) + ")"
    return "inputs (" + ", ".join(str(tuple(v.shape[1:])) for v in x) + ")"


def _check_output(parts: Parts, out: Any, y: torch.Tensor | None) -> None:
    from .losses import prediction

    pred = prediction(out)
    if parts.loss_name == "custom" or y is None:
        try:
            value = parts.loss_fn(out, y)
        except Exception as e:
            raise ModelError(f"The loss {parts.spec.loss} cannot take the model's output {tuple(pred.shape)} and the "
                             f"target ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}).") from None
        if not (isinstance(value, torch.Tensor) and value.numel() == 1):
            raise ModelError(f"The loss {parts.spec.loss} returned {type(value).__name__} "
                             f"{tuple(getattr(value, 'shape', ()))}, not a scalar tensor.")
        return
    expected = (1, parts.n_outputs) if parts.loss_name == "cross-entropy" else (1, *y.shape[1:])
    if tuple(pred.shape) != expected:
        raise DataError(f"Model {parts.spec.model!r} outputs shape {tuple(pred.shape)[1:]} per row, but the "
                        f"{parts.loss_name} loss needs {expected[1:]} for data {parts.data.source!r} "
                        f"(targets {tuple(y.shape[1:]) or 'class ids'}).")
