"""A run, opened: its folder, what the store knows of it, its weights and predictions.

    run = learnsys.load_run("20261127-120000-linear-1a2b")   # or what fit/resume return
    run.record(), run.metrics(), run.history(), run.params(), run.summary()
    run.predict(x), run.predict(x, proba=True)              # the model kept loaded between calls
    run.result                                              # how this process's training ended, if it trained
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch

from .errors import LearnsysError
from .inference import load_predictor, load_weights
from .runfolder import RunFolder
from .spec import RunSpec
from .store import RunStore
from .train.checkpoint import Checkpointer
from .train.loop import FitResult


class Run:
    """A run folder plus what the store knows of it; `result` says how this process's training ended."""

    def __init__(self, folder: RunFolder, result: FitResult | None = None, model: torch.nn.Module | None = None):
        self.folder = folder
        self.run_id = folder.run_id
        self.result = result
        self._model = model
        self._predictor, self._predictor_of = None, None

    @property
    def spec(self) -> RunSpec:
        return self.folder.spec()

    @property
    def exit_code(self) -> int:
        return 1 if self.result is not None and self.result.status in ("failed", "diverged") else 0

    def _store(self) -> RunStore:
        return RunStore(self.folder.store_path, readonly=True)

    def record(self) -> dict:
        return self._store().run(self.run_id)

    def predictor(self, checkpoint: str | int = "last"):
        """The run's model with its newest good weights (or those of `checkpoint`: best, last or a
        step); loaded once, again only when a newer checkpoint appears (a resume went on)."""
        newest = (checkpoint, Checkpointer(self.folder.checkpoints).candidates()[0][:1])
        if self._predictor is None or self._predictor_of != newest:
            self._predictor = load_predictor(self.folder, model=self._model, checkpoint=checkpoint)
            self._predictor_of = newest
        return self._predictor

    def predict(self, x: Any, *, proba: bool = False) -> torch.Tensor:
        """Predictions for raw inputs (a tensor (N, ...), an array or nested lists) as a tensor:
        the model's outputs, or for classifiers class ids (N,), or with `proba` probabilities."""
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        return self.predictor().predict_tensor(x, proba=proba)

    def metrics(self) -> dict[str, tuple[list[int], list[float]]]:
        store = self._store()
        return {name: store.series(self.run_id, name) for name in store.metric_names(self.run_id)}

    def history(self) -> list[tuple[int, str, float]]:
        return self._store().all_metrics(self.run_id)

    def params(self) -> dict[str, torch.Tensor]:
        return dict(load_weights(self.folder).state["model"])

    def _repr_html_(self) -> str:
        from .notebook import run_html

        return run_html(self)

    def summary(self) -> dict:
        rec = self.record()
        info = {"id": self.run_id, "kind": self.folder.kind(), "folder": str(self.folder.path),
                **{k: rec[k] for k in ("status", "step", "epoch", "total_steps", "message", "train_loss", "dev_loss",
                                       "spec")}}
        meta = self.folder.meta()
        evaluation = self._store().artifact(self.run_id, "evaluation")
        if evaluation and evaluation.get("confusion") is not None:
            info["confusion"] = {"step": evaluation["step"], "rows_true_columns_predicted": evaluation["confusion"],
                                 "classes": evaluation.get("classes")}
        if self.folder.kind() == "search":
            info["best"] = {"point": meta.get("best"), "loss": meta.get("best_loss")}
        elif meta.get("n_parameters", 0) <= 10_000:
            with contextlib.suppress(LearnsysError):
                info["params"] = {k: v.tolist() for k, v in self.params().items()}
        return info
