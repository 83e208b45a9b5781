"""What the page needs about a run beyond its row in the store: the size of its data split
and its steps per epoch (for the epoch axis), how many processes trained it (torchrun/DDP),
and a few spec fields for the run list.

    folder_fields(info) -> {"train_rows", "dev_rows", "steps_per_epoch", "dev_indices", "world_size"}
    brief(spec)         -> {"lr", "batch_size", "optimizer", "params", ...} (the fields that are there)
    samples_per_second(info, events) -> training throughput since the last start or resume, or None

Throughput is counted from the store, never timed in the loop: the steps done since the last
'start' or 'resume' event, times the rows of one step (train rows / steps per epoch, so the
short last batch counts as it is; `--batch-size` is the global batch under DDP), over the time
from that event to the run row's last update. It includes the start-up (loading data, the first
checkpoint), so a short run reads a little low.

Read from the run folder's meta.json (written by `train`, with `world_size` 1 for one process
and N under torchrun); a value that is not known is None.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

BRIEF_KEYS = ("lr", "batch_size", "optimizer", "epochs", "steps", "params", "grid")


def folder_fields(info: dict) -> dict:
    meta: dict = {}
    if info.get("folder") and info.get("kind") == "train":
        try:
            meta = json.loads((Path(info["folder"]) / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        if not isinstance(meta, dict):
            meta = {}
    train_rows, batch = meta.get("train_rows"), (info.get("spec") or {}).get("batch_size")
    steps_per_epoch = None
    if isinstance(train_rows, int) and train_rows > 0:
        if batch == "full":
            steps_per_epoch = 1
        elif isinstance(batch, int) and batch >= 1:
            steps_per_epoch = math.ceil(train_rows / min(batch, train_rows))
    world_size = meta.get("world_size")
    return {"train_rows": train_rows, "dev_rows": meta.get("dev_rows"), "steps_per_epoch": steps_per_epoch,
            "dev_indices": meta.get("dev_indices"),
            "world_size": world_size if isinstance(world_size, int) and world_size >= 1 else None}


def samples_per_second(info: dict, events: list[dict]) -> float | None:
    rows, steps = info.get("train_rows"), info.get("steps_per_epoch")
    since = next((e for e in reversed(events) if e.get("kind") in ("start", "resume")), None)
    if not (isinstance(rows, int) and isinstance(steps, int) and rows > 0 and steps > 0) or since is None:
        return None
    done, seconds = info.get("step", 0) - since["step"], info.get("updated", 0) - since["time"]
    if done <= 0 or not seconds > 0:
        return None
    return done * rows / steps / seconds


def brief(spec: dict | None) -> dict:
    return {k: spec[k] for k in BRIEF_KEYS if spec and k in spec}
