"""Inference: load a trained run's model from its newest good checkpoint and predict.

    predictor = load_predictor("runs/<id>")
    predictor.predict([[4.0], [5.0]])          # rows as lists -> lists: [[7.99...], [9.98...]]
    predictor.predict(torch.randn(50_000, 10)) # a tensor (N, ...) -> a tensor, no Python lists
    predictor.predict(images, proba=True)      # classifiers: class probabilities instead of ids

Inputs are raw feature values (rows of a tabular set, or tensors shaped like the training
inputs); the run's standardiser (fitted on its train part) is applied here, so callers never
scale by hand. Regression returns the model's outputs; classifiers return class ids
((N,) int64), or with `proba` the probabilities ((N, C) softmax for cross-entropy, (N, 1)
sigmoid for bce).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from .assembly import model_for
from .data import Standardizer
from .errors import LearnsysError
from .losses import class_ids, prediction
from .runfolder import RunFolder
from .steps import call_model
from .train.checkpoint import Checkpointer, parse_selector

CHUNK_ROWS = 65_536   # predictions are made in chunks of this many rows (bounded memory)


def _all_finite(x: torch.Tensor) -> bool:
    """Whether every value is finite. A NaN or an infinity makes the sum non-finite, so one
    reduction (no (N, ...) bool tensor) answers the common case; a sum that overflowed from
    large finite values is then checked value by value."""
    return bool(torch.isfinite(x.sum())) or bool(torch.isfinite(x).all())


class Predictor:
    def __init__(self, model: torch.nn.Module, scaler: Standardizer, meta: dict, step: int):
        self.model = model.eval()
        self.scaler = scaler
        self.meta = meta
        self.step = step
        self.device = next(model.parameters(), torch.empty(0)).device

    @property
    def n_features(self) -> int:
        return self.meta["n_features"]

    @property
    def item_shape(self) -> tuple[int, ...]:
        return tuple(self.meta.get("item_shape") or [self.n_features])

    def check_rows(self, rows: list[list[float]]) -> None:
        if not rows:
            raise LearnsysError("No input rows to predict. Give values with --x or a CSV with --input.")
        for i, row in enumerate(rows):
            if not isinstance(row, (list, tuple)) or len(row) != self.n_features:
                n = len(row) if isinstance(row, (list, tuple)) else 1
                names = ", ".join(self.meta["feature_names"]) or f"{self.n_features} values per row"
                raise LearnsysError(f"Input row {i + 1} has {n} value(s), but the model takes {self.n_features} "
                                    f"feature(s): {names}.")
            for v in row:
                if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                    raise LearnsysError(f"Input row {i + 1} holds {v!r}; every input must be a finite number.")

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.float32) if not x.is_floating_point() or x.dtype == torch.float64 else x
        shape = self.item_shape
        if x.ndim == 1 and shape == (1,):
            x = x[:, None]                                       # one feature: one value per row
        if tuple(x.shape[1:]) != shape:
            if x.ndim >= 2 and x[0].numel() == math.prod(shape):
                x = x.reshape(x.shape[0], *shape)                # flat rows of an image set
            else:
                raise LearnsysError(f"Inputs of shape {tuple(x.shape)} do not fit the model, which takes rows of "
                                    f"shape {shape} (a tensor (N, {', '.join(map(str, shape))})).")
        if not _all_finite(x):
            raise LearnsysError("The inputs hold NaN or infinite values; every input must be a finite number.")
        return x

    @torch.no_grad()
    def predict_tensor(self, x: Any, *, proba: bool = False) -> torch.Tensor:
        """Predictions for a tensor (N, ...) (or a dict/tuple of them for structured inputs)."""
        if isinstance(x, torch.Tensor):
            x = self.scaler(self._inputs(x))
            parts = [self._output(call_model(self.model, chunk.to(self.device)), proba)
                     for chunk in x.split(CHUNK_ROWS)]
            return parts[0] if len(parts) == 1 else torch.cat(parts)
        return self._output(call_model(self.model, x), proba)

    def _output(self, out: Any, proba: bool) -> torch.Tensor:
        out = prediction(out).detach()
        loss = self.meta.get("loss")
        classes = class_ids(loss)
        if classes is None:
            return out                                                             # regression: the outputs
        if not proba:
            return classes(out)                                                    # (N,) class ids
        if loss == "cross-entropy":
            return torch.softmax(out, 1)                                           # (N, C)
        return torch.sigmoid(out) if loss == "bce" else out                        # (N, 1): P(class 1)

    def predict(self, x: Any, *, proba: bool = False) -> Any:
        """Rows as nested lists give nested lists (the CLI and the dashboard); tensors give tensors."""
        if isinstance(x, (list, tuple)) and (not x or not isinstance(x[0], torch.Tensor)):
            self.check_rows(list(x))
            return self.predict_tensor(torch.tensor(x, dtype=torch.float32), proba=proba).cpu().tolist()
        return self.predict_tensor(x, proba=proba)


def load_weights(folder: RunFolder, checkpoint: str | int = "last"):
    """The newest good checkpoint of a run (`LoadedCheckpoint`), or the one `checkpoint` names
    ("best", "last" or a step number); one line when there is none."""
    if folder.kind() != "train":
        raise LearnsysError(f"Run {folder.run_id} is a {folder.kind()} run, not a trained model; "
                            "predictions and the lecture views of a run need a run made by `learnsys train`.")
    if parse_selector(checkpoint) != "last":
        found, warnings = Checkpointer(folder.checkpoints).select(checkpoint)
    else:
        found, warnings = Checkpointer(folder.checkpoints).latest()
    if found is None:
        detail = f" ({warnings[-1]})" if warnings else ""
        raise LearnsysError(f"This run has no trained model yet{detail}. Run `learnsys train` (or `learnsys resume "
                            f"{folder.run_id}`) first.")
    return found


def load_predictor(run_folder: str | Path | RunFolder, model: torch.nn.Module | None = None,
                   checkpoint: str | int = "last") -> Predictor:
    """The run's model with the weights of its newest good checkpoint, or of the one `checkpoint`
    names ("best", "last" or a step number)."""
    folder = run_folder if isinstance(run_folder, RunFolder) else RunFolder(Path(run_folder))
    found = load_weights(folder, checkpoint)
    meta = folder.meta()
    spec = folder.rebuild_spec(given=["model"] if model is not None else [], needs=["model"],
                               hint="pass the same module to learnsys.load_run(..., model=module) to use it")
    if model is None:
        model = model_for(spec, meta["n_features"], meta["n_outputs"], tuple(meta.get("item_shape") or ()))
    try:
        model.load_state_dict(found.state["model"])
    except RuntimeError as e:
        raise LearnsysError(f"The checkpoint {found.path} does not fit model {spec.model!r}: "
                            f"{str(e).splitlines()[0]}") from None
    return Predictor(model, Standardizer.from_state_dict(meta["scaler"]), meta, found.step)
