"""Evaluation on the dev set, and what it shows besides its numbers: a classifier's confusion
matrix and, for image data, a few dev samples with their true and predicted labels (lecture
9's inference, seen on the dashboard).

    out = evaluate(trainer)       # {"dev/loss", "dev/accuracy"?}; sinks get on_evaluate

    confusion = add_confusion(None, predicted, labels, n_classes)   # (C, C) counts, rows = true class
    samples = image_samples(images, predicted, labels)               # {"shape", "images", "true", "pred"} or None
"""

from __future__ import annotations

from typing import Any

import torch

from ..steps import call_model, join_batch


MAX_CONFUSION_CLASSES = 50      # a larger matrix is not something to look at
SAMPLES = 16                    # dev images shown with their predictions
MAX_SAMPLE_SIDE = 64            # larger images are not sent


def add_confusion(confusion: torch.Tensor | None, predicted: torch.Tensor, y: torch.Tensor,
                  n_classes: int) -> torch.Tensor | None:
    """`confusion` (C, C) plus this batch's counts: entry [t, p] counts rows of true class t
    predicted as p (`predicted`: the batch's class ids, (N,))."""
    c = max(n_classes, 2)
    if c > MAX_CONFUSION_CLASSES:
        return None
    true = y.reshape(-1).long().cpu()
    counts = torch.bincount(true * c + predicted.cpu(), minlength=c * c).reshape(c, c)
    return counts if confusion is None else confusion + counts


def image_samples(x: Any, predicted: torch.Tensor, y: torch.Tensor) -> dict | None:
    """The first dev images (C in 1 or 3, sides up to 64) with true and predicted labels, as lists."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] not in (1, 3) or \
            max(x.shape[2:]) > MAX_SAMPLE_SIDE:
        return None
    k = min(SAMPLES, x.shape[0])
    images = x[:k].detach().float().cpu()
    return {"shape": list(images.shape[1:]), "images": images.reshape(k, -1).tolist(),
            "true": y[:k].reshape(-1).tolist(), "pred": predicted[:k].tolist()}


@torch.no_grad()
def evaluate(trainer: Any) -> dict:
    """The dev set's loss (and accuracy for classifiers) with the trainer's model in eval mode: one
    batch on the memory path, its batches in order on the loader path (the loss is then the
    row-weighted mean of the batch losses). Sinks get the confusion matrix and image samples."""
    model, step_fn, layout = trainer.model, trainer.step_fn, trainer.layout
    model.eval()
    total = correct = 0.0
    rows, confusion, samples = 0, None, None
    for xb, yb in trainer.dev.batches():
        with trainer.precision.autocast:
            if step_fn is not None:
                loss, y_pred = step_fn(model, join_batch(xb, yb, layout)), None
            else:
                y_pred = call_model(model, xb)
                loss = trainer.loss_fn(y_pred, yb)
        n = len(yb) if yb is not None else 1
        total, rows = total + float(loss) * n, rows + n
        if trainer.class_ids is not None and y_pred is not None:
            predicted = trainer.class_ids(y_pred)                              # (B,)
            correct += float((predicted == yb.reshape(-1)).sum())
            confusion = add_confusion(confusion, predicted, yb, trainer.n_classes)
            samples = samples or image_samples(xb, predicted, yb)
    model.train()
    out = {"dev/loss": total / rows}
    if trainer.class_ids is not None and step_fn is None:
        out["dev/accuracy"] = correct / rows
    trainer.callbacks.emit("on_evaluate", trainer, {"step": trainer.progress.step, "metrics": out,
                                                    "confusion": confusion, "samples": samples})
    return out
