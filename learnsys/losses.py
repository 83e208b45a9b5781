"""Losses by name, and what each needs of the data: targets, output count, accuracy.

One resolver for every verb (train, search, graph, gradcheck, landscape), so `--loss auto`
means the same everywhere: bce for `logistic`, cross-entropy for `softmax` or a data set with
classes, mse otherwise.

    name = resolve_loss_name("auto", "softmax", n_classes=3)    # 'cross-entropy'
    loss_fn = build_loss(name)                                  # nn.CrossEntropyLoss()
    y = prepare_targets(y, name)                                # (N,) class ids for cross-entropy
"""

from __future__ import annotations

import torch
from torch import nn

from .errors import DataError, SpecError

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


def check_loss_fits(loss_name: str, n_classes: int, source: str) -> None:
    if loss_name == "cross-entropy" and n_classes == 0:
        raise DataError(f"loss cross-entropy needs class labels, but data set {source!r} is a regression "
                        "set. Use --loss mse, or a classification data set.")


def build_loss(name: str) -> nn.Module:
    return {"mse": nn.MSELoss, "mae": nn.L1Loss, "bce": nn.BCEWithLogitsLoss,
            "cross-entropy": nn.CrossEntropyLoss}[name]()


def n_outputs_for(loss_name: str, n_targets: int, n_classes: int) -> int:
    """How many outputs the model needs: one per class for cross-entropy, else one per target."""
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
