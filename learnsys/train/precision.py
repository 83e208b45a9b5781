"""Numeric precision of the training step (`--precision 32|bf16-mixed|16-mixed`).

    precision = Precision.of("bf16-mixed", device)
    with precision.autocast:                        # the forward pass and the loss
        loss = loss_fn(model(x), y)
    precision.backward(loss); precision.step(optimizer)

`32` is plain float32 (the autocast is a no-op context). `bf16-mixed` runs the forward pass
under `torch.autocast` in bfloat16 (CPU and GPU; no loss scaling needed: bf16 has float32's
range). `16-mixed` uses float16 with a `GradScaler`, whose state (scale, growth tracker) is
part of the train state, so a resume stays exact.
"""

from __future__ import annotations

import contextlib

import torch

from ..errors import SpecError

PRECISIONS = ("32", "bf16-mixed", "16-mixed")


class Precision:
    def __init__(self, name: str, device: torch.device):
        if name not in PRECISIONS:
            raise SpecError(f"precision = {name!r} is not one of {', '.join(PRECISIONS)}.")
        self.name = name
        kind = device.type
        if name == "32":
            self.autocast = contextlib.nullcontext()
        else:
            dtype = torch.bfloat16 if name == "bf16-mixed" else torch.float16
            self.autocast = torch.autocast(device_type=kind, dtype=dtype)
        self.scaler = torch.amp.GradScaler(kind) if name == "16-mixed" else None

    @classmethod
    def of(cls, name: str, device: torch.device) -> "Precision":
        return cls(name, device)

    def state_dict(self) -> dict | None:
        return None if self.scaler is None else self.scaler.state_dict()

    def load_state_dict(self, state: dict | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
