"""The resume policy: what a resume may change, how it knows the data is the same, and when it
cannot promise a bitwise-equal result (docs/resume.md).

    changes = allowed_changes(run_id, saved_spec, {"epochs": 2000})   # refuses the rest, naming them
    check_same_data(run_id, built, meta["data_sha256"])
    for line in exactness_limits(state, built): log.warning(line)
"""

from __future__ import annotations

import hashlib

import torch

from ..assembly import Parts
from ..data import LazyData, tensors_of
from ..errors import DataError, SpecError
from ..spec import RunSpec
from .state import environment

# Fields a resume may change. epochs/steps (extend or shorten), keep_checkpoints, pace and
# async_checkpoint leave every number bitwise the same; checkpoint_every too, unless the
# divergence guard rolls back (its target is the state at the last multiple of
# checkpoint_every); lr is a deliberate change from the checkpoint on. The rest (data, model,
# batch size, shuffle, seed, optimiser, scheduler, loss, ...) would make the checkpoint mean
# something else, so a different value is refused.
RESUME_CHANGES = ("epochs", "steps", "lr", "checkpoint_every", "checkpoint_seconds", "keep_checkpoints", "pace",
                  "async_checkpoint")


def allowed_changes(run_id: str, saved: RunSpec, changes: dict) -> dict:
    """The fields of `changes` that differ from the saved spec; one error naming any that may not."""
    old = saved.to_dict()
    changed = {k: v for k, v in changes.items() if k not in old or v != old[k]}
    if changed.get("lr") == "auto":
        raise SpecError(f"--lr auto runs the LR range test before a new run; on resume give run {run_id} a number "
                        "(learnsys lr-find suggests one).")
    refused = [k for k in changed if k not in RESUME_CHANGES]
    if refused:
        was = ", ".join(f"{k} = {old[k]!r}" if k in old else k for k in refused)
        raise SpecError(f"Cannot change {', '.join(refused)} on resume: run {run_id} was trained with {was}, and "
                        f"its checkpoints mean nothing under another value. Nothing was changed. Allowed changes: "
                        f"{', '.join(RESUME_CHANGES)}; start a new run for the rest.")
    return changed


def _update(h, t: torch.Tensor) -> None:
    h.update(str((tuple(t.shape), t.dtype)).encode())
    h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())


def data_fingerprint(parts: Parts) -> str:
    """sha256 of the train and dev tensors exactly as the loop sees them (after split and scaling).
    For a Dataset (the loader path) it covers what can be read cheaply: the rows of each part, the
    items' layout, and the first and last train items."""
    h = hashlib.sha256()
    if isinstance(parts.train, LazyData):
        for part in (parts.train, parts.dev):
            if part is not None:
                h.update(str((part.n_rows, part.layout, part.item_shape, part.n_classes)).encode())
                _update(h, part.indices)
        lazy = parts.train
        for i in (int(lazy.indices[0]), int(lazy.indices[-1])):
            for t in tensors_of(lazy.dataset[i]):
                _update(h, torch.as_tensor(t))
        return h.hexdigest()
    for part in (parts.train, parts.dev or ()):
        for value in part:
            for t in tensors_of(value):
                _update(h, t)
    return h.hexdigest()


def check_same_data(run_id: str, parts: Parts, expected: str | None) -> None:
    if expected is not None and data_fingerprint(parts) != expected:
        raise DataError(f"The data of run {run_id} ({parts.spec.data}) is not what it was trained on (its sha256 "
                        "changed), so a resume could not be exact. Nothing was changed. Restore the data, or start "
                        "a new run.")


def exactness_limits(state: dict, device: torch.device) -> list[str]:
    """One line for each reason this resume cannot promise bitwise equality with an
    uninterrupted run (docs/resume.md, "Limits")."""
    lines = []
    if device.type == "cuda" and not torch.are_deterministic_algorithms_enabled():
        lines.append("Resuming on cuda without torch.use_deterministic_algorithms(True): cuda kernels may "
                     "round differently from run to run, so the result is close to, not bitwise equal to, an "
                     "uninterrupted run.")
    then, now = state.get("env") or {}, environment()
    differs = [f"{k} {then[k]} -> {now[k]}" for k in ("torch", "threads") if k in then and then[k] != now[k]]
    if differs:
        lines.append(f"The checkpoint was written under other settings ({', '.join(differs)}); results may "
                     "differ in the last bits from an uninterrupted run.")
    return lines
