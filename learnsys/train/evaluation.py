"""What an evaluation shows besides its numbers: a classifier's confusion matrix and, for
image data, a few dev samples with their true and predicted labels (lecture 9's inference,
seen on the dashboard).

    confusion = add_confusion(None, predicted, labels, n_classes)   # (C, C) counts, rows = true class
    samples = image_samples(images, predicted, labels)               # {"shape", "images", "true", "pred"} or None
"""

from __future__ import annotations

from typing import Any

import torch


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
