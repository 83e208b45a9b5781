"""Inference: load a trained run's model from its newest good checkpoint and predict.

    predictor = load_predictor("runs/<id>")
    predictor.predict([[4.0], [5.0]])   # -> [[7.99...], [9.98...]]

Inputs are rows of raw feature values; the run's standardiser (fitted on its train part)
is applied here, so callers never scale by hand. Regression returns the model's outputs,
`bce` the probability of class 1, `cross-entropy` the predicted class id.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from .data import Standardizer
from .errors import LearnsysError
from .models import build_model
from .runfolder import RunFolder
from .train.checkpoint import Checkpointer, parse_selector


class Predictor:
    def __init__(self, model: torch.nn.Module, scaler: Standardizer, meta: dict, step: int):
        self.model = model.eval()
        self.scaler = scaler
        self.meta = meta
        self.step = step

    @property
    def n_features(self) -> int:
        return self.meta["n_features"]

    def check_rows(self, rows: list[list[float]]) -> None:
        if not rows:
            raise LearnsysError("No input rows to predict. Give values with --x or a CSV with --input.")
        for i, row in enumerate(rows):
            if len(row) != self.n_features:
                raise LearnsysError(f"Input row {i + 1} has {len(row)} value(s), but the model takes "
                                    f"{self.n_features} feature(s): {', '.join(self.meta['feature_names'])}.")
            for v in row:
                if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                    raise LearnsysError(f"Input row {i + 1} holds {v!r}; every input must be a finite number.")

    @torch.no_grad()
    def predict(self, rows: list[list[float]]) -> list[list[float]]:
        self.check_rows(rows)
        x = self.scaler(torch.tensor(rows, dtype=torch.float32))     # (N, F)
        device = next(self.model.parameters(), torch.empty(0)).device
        out = self.model(x.to(device)).cpu()                         # (N, O)
        loss = self.meta.get("loss")
        if loss == "bce":
            out = torch.sigmoid(out)
        elif loss == "cross-entropy":
            out = out.argmax(1, keepdim=True).float()                # (N, 1)
        return out.tolist()


def load_predictor(run_folder: str | Path, model: torch.nn.Module | None = None,
                   checkpoint: str | int = "last") -> Predictor:
    """The run's model with the weights of its newest good checkpoint, or of the one `checkpoint`
    names ("best", "last" or a step number)."""
    folder = RunFolder(Path(run_folder)) if not isinstance(run_folder, RunFolder) else run_folder
    spec, meta = folder.spec(), folder.meta()
    if parse_selector(checkpoint) != "last":
        found, warnings = Checkpointer(folder.checkpoints).select(checkpoint)
    else:
        found, warnings = Checkpointer(folder.checkpoints).latest()
    if found is None:
        detail = f" ({warnings[-1]})" if warnings else ""
        raise LearnsysError(f"This run has no trained model yet{detail}. Run `learnsys train` (or `learnsys resume "
                            f"{folder.run_id}`) first.")
    if model is None:
        if spec.model.startswith("<"):
            raise LearnsysError(f"Run {folder.run_id} was trained on a Python model object; pass the same module "
                                "to learnsys.load_run(..., model=module) to use it.")
        model = build_model(spec.model, meta["n_features"], meta["n_outputs"], spec.model_args)
    try:
        model.load_state_dict(found.state["model"])
    except RuntimeError as e:
        raise LearnsysError(f"The checkpoint {found.path} does not fit model {spec.model!r}: "
                            f"{str(e).splitlines()[0]}") from None
    return Predictor(model, Standardizer.from_state_dict(meta["scaler"]), meta, found.step)
