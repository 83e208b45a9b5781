"""Losses by name or as objects, and what each needs of the data: targets, output count, accuracy.

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

from .errors import DataError, ModelError, SpecError

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
    """How many outputs the model needs: one per class for cross-entropy, one for binary
    classes, else one per target."""
    if loss_name == "cross-entropy":
        return n_classes
    return 1 if loss_name in ("bce", "bce-probabilities") else n_targets


def prepare_targets(y: torch.Tensor | None, loss_name: str) -> torch.Tensor | None:
    """Targets in the form the loss takes (made once before the loop on the memory path, per
    batch on the loader path): class ids (N,) int64 for cross-entropy, (N, 1) floats for bce,
    (N, T) float32 otherwise."""
    if y is None:
        return None
    if loss_name == "cross-entropy":
        if y.is_floating_point():
            y = y.reshape(-1)
            if not bool((y == y.round()).all()):
                raise DataError("cross-entropy needs class ids (0, 1, 2, ...), but a batch holds the label "
                                f"{y[y != y.round()][0].item()!r}. Use a regression loss, or whole-number labels.")
        return y.reshape(-1).long()                                             # (N,)
    if loss_name in ("bce", "bce-probabilities"):
        return y.reshape(y.shape[0], -1).to(torch.float32)                      # (N, 1)
    if not y.is_floating_point():
        return y if loss_name == "custom" else y.reshape(y.shape[0], -1).to(torch.float32)
    return y[:, None] if y.ndim == 1 else y


# What a loss object's class says about its input and targets. 'bce-probabilities' is nn.BCELoss on a
# model that ends in a sigmoid (lectures 6-8): binary targets as floats, the output a probability.
LOSS_KINDS = {nn.CrossEntropyLoss: "cross-entropy", nn.BCEWithLogitsLoss: "bce", nn.BCELoss: "bce-probabilities",
              nn.MSELoss: "mse", nn.L1Loss: "mae"}
CLASSIFIERS = ("cross-entropy", "bce", "bce-probabilities")


def direct(loss_fn):
    """The functional form of a built-in torch loss module: the call its forward makes, with its
    settings, so the loop makes one Module call fewer per step (same kernels, same numbers).
    Anything else, or a module with hooks, is returned as it is."""
    from functools import partial

    from torch.nn import functional as F

    from .models import unhooked

    if not isinstance(loss_fn, nn.Module) or not unhooked(loss_fn):
        return loss_fn
    kind, r = type(loss_fn), getattr(loss_fn, "reduction", "mean")
    if kind is nn.MSELoss:
        return partial(F.mse_loss, reduction=r)
    if kind is nn.L1Loss:
        return partial(F.l1_loss, reduction=r)
    if kind is nn.CrossEntropyLoss:
        return partial(F.cross_entropy, weight=loss_fn.weight, ignore_index=loss_fn.ignore_index, reduction=r,
                       label_smoothing=loss_fn.label_smoothing)
    if kind is nn.BCEWithLogitsLoss:
        return partial(F.binary_cross_entropy_with_logits, weight=loss_fn.weight, reduction=r,
                       pos_weight=loss_fn.pos_weight)
    return loss_fn


def loss_kind(loss: object) -> str:
    """What a loss object needs of the targets, by its class; 'custom' for any other callable."""
    return next((kind for cls, kind in LOSS_KINDS.items() if isinstance(loss, cls)), "custom")


def prediction(out):
    """The tensor a loss, an accuracy or predict reads from a model's output: the output itself,
    a tuple's first element, or a dict's 'logits' / 'prediction' / 'output' (or its only tensor)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    if isinstance(out, dict):
        for key in ("logits", "prediction", "output", "y"):
            if isinstance(out.get(key), torch.Tensor):
                return out[key]
        tensors = [v for v in out.values() if isinstance(v, torch.Tensor)]
        if len(tensors) == 1:
            return tensors[0]
        raise ModelError(f"The model returns a dict with keys {', '.join(map(str, out))}; learnsys reads 'logits', "
                         "'prediction' or 'output' from it. Rename one, or give a step function (--step).")
    raise ModelError(f"The model returns {type(out).__name__}; give a tensor, a tuple (the first element is the "
                     "prediction) or a dict with 'logits'.")


def criterion(loss_fn, sample_output):
    """`loss_fn` for the model's kind of output: itself for a tensor (no wrapper on the hot path),
    else applied to `prediction(output)`; a dict output with a 'loss' is its own loss."""
    if isinstance(sample_output, torch.Tensor):
        return loss_fn
    if isinstance(sample_output, dict) and isinstance(sample_output.get("loss"), torch.Tensor) and loss_fn is None:
        return lambda out, y: out["loss"]
    return lambda out, y: loss_fn(prediction(out), y)


def class_ids(loss_name: str):
    """The classes a classifier's output predicts, (N,) int64: the arg-max for cross-entropy, a
    logit > 0 for bce, a probability > 0.5 for bce-probabilities; None for regression."""
    if loss_name == "cross-entropy":
        return lambda out: prediction(out).argmax(1)                               # (N, C) -> (N,)
    if loss_name in ("bce", "bce-probabilities"):
        threshold = 0.0 if loss_name == "bce" else 0.5
        return lambda out: (prediction(out).reshape(-1) > threshold).long()         # (N, 1) -> (N,)
    return None


def accuracy_fn(loss_name: str):
    """Accuracy of a batch from the model's output, for classifiers; None for regression."""
    classes = class_ids(loss_name)
    if classes is None:
        return None
    return lambda out, y: (classes(out) == y.reshape(-1)).float().mean()
