"""What the page needs about a run beyond its row in the store: the size of its data split
and its steps per epoch (for the epoch axis), and a few spec fields for the run list.

    data_shape(info)   -> {"train_rows", "dev_rows", "steps_per_epoch", "dev_indices"}
    brief(spec)        -> {"lr", "batch_size", "optimizer", "params", ...} (the fields that are there)

Read from the run folder's meta.json (written by `train`); a value that is not known is None.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

BRIEF_KEYS = ("lr", "batch_size", "optimizer", "epochs", "steps", "params", "grid")


def data_shape(info: dict) -> dict:
    meta: dict = {}
    if info.get("folder") and info.get("kind") == "train":
        try:
            meta = json.loads((Path(info["folder"]) / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
    train_rows, batch = meta.get("train_rows"), (info.get("spec") or {}).get("batch_size")
    steps_per_epoch = None
    if isinstance(train_rows, int) and train_rows > 0:
        if batch == "full":
            steps_per_epoch = 1
        elif isinstance(batch, int) and batch >= 1:
            steps_per_epoch = math.ceil(train_rows / min(batch, train_rows))
    return {"train_rows": train_rows, "dev_rows": meta.get("dev_rows"), "steps_per_epoch": steps_per_epoch,
            "dev_indices": meta.get("dev_indices")}


def brief(spec: dict | None) -> dict:
    return {k: spec[k] for k in BRIEF_KEYS if spec and k in spec}
