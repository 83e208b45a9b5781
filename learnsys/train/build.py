"""Build everything a run needs from its spec, checking it all before anything is written.

`build(spec)` loads and splits the data, fits the standardiser on the train part, seeds and
builds the model, and makes the loss, optimiser and scheduler; then it runs the model on
one row to check that features and outputs fit. Any problem raises a LearnsysError, so a
bad input never leaves a half-made run folder behind.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..data import DataSet, Standardizer, load_data, split
from ..errors import DataError, ModelError
from ..models import apply_init, build_model, count_parameters, scalar_names
from ..spec import RunSpec
from . import components


@dataclass
class Built:
    spec: RunSpec
    data: DataSet                       # the whole data set, as loaded
    train: tuple[torch.Tensor, torch.Tensor]
    dev: tuple[torch.Tensor, torch.Tensor] | None
    scaler: Standardizer
    model: torch.nn.Module
    loss_name: str
    loss_fn: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    device: torch.device
    param_names: list[str]
    warnings: list[str]

    def meta(self) -> dict:
        """What inference needs besides the weights; saved as meta.json in the run folder."""
        return {**self.data.meta(), "loss": self.loss_name, "scaler": self.scaler.state_dict(),
                "n_outputs": components.n_outputs_for(self.loss_name, self.data.y.shape[1], self.data.n_classes),
                "n_parameters": count_parameters(self.model), "scalar_names": self.param_names,
                "train_rows": self.train[0].shape[0], "dev_rows": 0 if self.dev is None else self.dev[0].shape[0]}


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError("device = 'cuda' but no CUDA device is available; use --device cpu or auto.")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build(spec: RunSpec, *, model: torch.nn.Module | None = None, data: DataSet | None = None) -> Built:
    dataset = data if data is not None else load_data(spec.data, target=spec.target, data_args=spec.data_args)
    train, dev = split(dataset, spec.dev, spec.seed)
    scaler = Standardizer.fit(train.x) if spec.standardize else Standardizer()
    loss_name = components.resolve_loss_name(spec.loss, spec.model, dataset.n_classes)
    if loss_name == "cross-entropy" and dataset.n_classes == 0:
        raise DataError(f"loss cross-entropy needs class labels, but data set {dataset.source!r} is a regression "
                        "set. Use --loss mse, or a classification data set.")
    n_out = components.n_outputs_for(loss_name, dataset.y.shape[1], dataset.n_classes)
    device = resolve_device(spec.device)
    # python's and numpy's generators too, so a model or callback that draws from them is
    # reproducible, and an uninterrupted run is one well-defined thing to resume into
    random.seed(spec.seed)
    np.random.seed(spec.seed)
    if model is None:
        torch.manual_seed(spec.seed)  # right before the model is built: the listing's initial weights
        model = build_model(spec.model, dataset.n_features, n_out, spec.model_args)
    apply_init(model, spec.init)
    model.to(device)
    loss_fn = components.build_loss(loss_name)
    optimizer = components.build_optimizer(spec.optimizer, model.parameters(), spec.lr, spec.optimizer_args)
    scheduler = components.build_scheduler(spec.scheduler, optimizer, spec.scheduler_args)

    def tensors(part: DataSet) -> tuple[torch.Tensor, torch.Tensor]:
        x = scaler(part.x).to(device)                                    # (N, F)
        y = components.prepare_targets(part.y, loss_name).to(device)     # (N, T) or (N,)
        return x, y

    warnings = []
    if isinstance(spec.batch_size, int) and spec.batch_size > train.n_rows:
        warnings.append(f"batch_size = {spec.batch_size} is larger than the {train.n_rows} train rows; "
                        "using full batches (gradient descent).")
    built = Built(spec, dataset, tensors(train), None if dev is None else tensors(dev), scaler, model, loss_name,
                  loss_fn, optimizer, scheduler, device, scalar_names(model), warnings)
    check_fit(built)
    return built


def check_fit(built: Built) -> None:
    """Run the model on the first row (eval mode, no grad, no RNG draws) and compare shapes."""
    x, y = built.train
    model = built.model
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x[:1])
    except Exception as e:
        raise DataError(f"Model {built.spec.model!r} cannot take the data's {x.shape[1]} feature(s) "
                        f"({type(e).__name__}: {str(e).splitlines()[0]}). Check --model and the data's columns.") from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor):
        raise ModelError(f"Model {built.spec.model!r} returned {type(out).__name__}, not a tensor.")
    if built.loss_name == "cross-entropy":
        expected = (1, built.data.n_classes)
    else:
        expected = (1, *y.shape[1:])
    if tuple(out.shape) != expected:
        raise DataError(f"Model {built.spec.model!r} outputs shape {tuple(out.shape)[1:]} per row, but the "
                        f"{built.loss_name} loss needs {expected[1:]} for data {built.data.source!r}.")
