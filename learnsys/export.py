"""Export a trained run's model to a file other tools open: safetensors, TorchScript, ONNX or
a plain state dict.

    path, info = export_run("runs/a", "torchscript")                 # newest good checkpoint
    path, info = export_run("runs/a", "onnx", out="a.onnx", checkpoint="best")

The model comes from the run exactly as `learnsys predict` loads it (`inference.load_predictor`,
called in one place below), so an export predicts what `predict` prints:
- torchscript and onnx hold the whole prediction: raw inputs (N, ...) in, the run's
  standardisation, the model, then the output `predict` gives out (the model's outputs for
  regression; for classifiers the class ids (N,), or with `proba` the probabilities);
- safetensors and state-dict hold the model's `state_dict()` alone (so
  `model.load_state_dict(...)` takes it as it is); the standardisation and output rule are in
  the safetensors metadata (`learnsys`, JSON) and, for state-dict, in `<out>.json` beside it.

safetensors needs the `safetensors` package and onnx needs `onnx` + `onnxscript` (torch's
exporter); both are in the `export` extra. A missing one is one line naming the pip install.
Every file is written to a temp file and renamed into place: an error leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Callable

import torch

from .errors import LearnsysError
from .inference import Predictor, load_predictor
from .runfolder import RunFolder

FORMATS = {"safetensors": ".safetensors", "torchscript": ".torchscript.pt", "onnx": ".onnx",
           "state-dict": ".state_dict.pt"}
NEEDS = {"safetensors": ("safetensors",), "onnx": ("onnx", "onnxscript")}
CLASSIFIERS = ("cross-entropy", "bce", "bce-probabilities")   # any other loss: the model's outputs as they are


class PredictionModule(torch.nn.Module):
    """What `learnsys predict` computes, as one module: raw rows in, predictions out."""

    def __init__(self, model: torch.nn.Module, mean: list[float], std: list[float], output: str, loss: str):
        super().__init__()
        self.model = model
        self.standardise = bool(mean)
        self.register_buffer("mean", torch.tensor(mean or [0.0], dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std or [1.0], dtype=torch.float32))
        self.output, self.loss = output, loss

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, ...) raw inputs
        if self.standardise:
            x = (x - self.mean) / self.std                           # (N, F)
        out = self.model(x)                                          # (N, O)
        if self.output == "class":                                   # the class ids, (N,), as predict gives them
            if self.loss == "cross-entropy":
                return out.argmax(1)
            return (out.reshape(-1) > (0.0 if self.loss == "bce" else 0.5)).long()
        if self.output == "probability":                             # as predict --proba gives them
            if self.loss == "cross-entropy":
                return torch.softmax(out, 1)                         # (N, C)
            return torch.sigmoid(out) if self.loss == "bce" else out  # (N, 1): P(class 1)
        return out


def check_format(fmt: str) -> None:
    """An unknown format or a missing optional package: one line, before any work is done."""
    if fmt not in FORMATS:
        raise LearnsysError(f"Unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    missing = [name for name in NEEDS.get(fmt, ()) if importlib.util.find_spec(name) is None]
    if missing:
        raise LearnsysError(f"Export to {fmt} needs the {' and '.join(missing)} package{'s' * (len(missing) > 1)}: "
                            f"pip install {' '.join(missing)} (or pip install 'learnsys[export]').")


def export_run(run: str | Path | RunFolder, fmt: str, out: str | Path | None = None, *, checkpoint: str | int = "last",
               runs_dir: str | Path = "runs", model: torch.nn.Module | None = None,
               proba: bool = False) -> tuple[Path, dict]:
    """Write the model of `run` at `checkpoint` ("last", "best" or a step) in `fmt`; returns
    (the path written, what it holds: run, step, format, inputs, output rule, standardisation)."""
    check_format(fmt)
    folder = run if isinstance(run, RunFolder) else RunFolder.find(str(run), runs_dir)
    predictor = load_predictor(folder, model=model, checkpoint=checkpoint)  # the one way a run's model is built
    info = describe(folder, predictor, fmt, proba)
    path = Path(out) if out is not None else folder.path / "exports" / f"step-{predictor.step:08d}{FORMATS[fmt]}"
    if path.is_dir():
        raise LearnsysError(f"--out {path} is a folder; give a file path, e.g. {path / ('model' + FORMATS[fmt])}.")
    writers: dict[str, Callable[[Predictor, Path, dict], None]] = {
        "safetensors": _safetensors, "torchscript": _torchscript, "onnx": _onnx, "state-dict": _state_dict}
    files = {path: lambda tmp: writers[fmt](predictor, tmp, info)}
    if fmt == "state-dict":  # bare tensors: what they mean goes beside them
        files[path.with_name(path.name + ".json")] = lambda tmp: tmp.write_text(json.dumps(info, indent=1))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_all(files)
    except OSError as e:
        raise LearnsysError(f"Cannot write the export {path}: {e.strerror or e}. Free space or choose another "
                            "--out.") from None
    return path, info


def describe(folder: RunFolder, predictor: Predictor, fmt: str, proba: bool = False) -> dict:
    meta = predictor.meta
    spec = folder.spec()
    scaler = predictor.scaler.state_dict()
    return {"learnsys_export": 1, "run": folder.run_id, "step": predictor.step, "format": fmt, "model": spec.model,
            "model_args": spec.model_args, "n_features": meta["n_features"], "n_outputs": meta.get("n_outputs"),
            "item_shape": list(predictor.item_shape),
            "feature_names": meta.get("feature_names"), "loss": meta.get("loss"),
            "output": ("probability" if proba else "class") if meta.get("loss") in CLASSIFIERS else "identity",
            "standardise": {"mean": scaler["mean"], "std": scaler["std"]},
            "standardised_inside": fmt in ("torchscript", "onnx")}


def _write_all(files: dict[Path, Callable[[Path], None]]) -> None:
    """Each file to a temp file first, then all renamed into place: a failure leaves no file."""
    temps = {path: path.with_name(f".{path.name}.tmp") for path in files}
    try:
        for path, write in files.items():
            write(temps[path])
        for path, tmp in temps.items():
            os.replace(tmp, path)
    except BaseException:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        raise


def _module(predictor: Predictor, info: dict) -> PredictionModule:
    scaler = predictor.scaler.state_dict()
    return PredictionModule(predictor.model.cpu().eval(), scaler["mean"], scaler["std"], info["output"],
                            predictor.meta.get("loss") or "").eval()


def _example(predictor: Predictor) -> torch.Tensor:
    return torch.zeros(2, *predictor.item_shape)  # (N, ...) one training input's shape; the batch size stays free


def _weights(predictor: Predictor) -> dict[str, torch.Tensor]:
    # clones: safetensors refuses tensors that share memory (tied weights)
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in predictor.model.state_dict().items()}


@contextlib.contextmanager
def _quiet():
    """torch.jit is deprecated upstream and the ONNX exporter logs its progress; a CLI verb
    prints one line, so both are silenced while they run."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _safetensors(predictor: Predictor, tmp: Path, info: dict) -> None:
    from safetensors.torch import save_file

    save_file(_weights(predictor), str(tmp), metadata={"learnsys": json.dumps(info)})


def _state_dict(predictor: Predictor, tmp: Path, info: dict) -> None:
    torch.save(_weights(predictor), tmp)


def _torchscript(predictor: Predictor, tmp: Path, info: dict) -> None:
    module = _module(predictor, info)
    with _quiet(), torch.no_grad():
        try:
            traced = torch.jit.trace(module, _example(predictor))
        except Exception as e:
            raise LearnsysError(f"TorchScript cannot trace model {info['model']!r}: {_first_line(e)}. Try --format "
                                "onnx or safetensors.") from None
        torch.jit.save(traced, str(tmp), _extra_files={"learnsys.json": json.dumps(info)})


def _onnx(predictor: Predictor, tmp: Path, info: dict) -> None:
    import onnx

    module = _module(predictor, info)
    with _quiet(), torch.no_grad():
        try:
            torch.onnx.export(module, (_example(predictor),), str(tmp), dynamo=True, verbose=False,
                              external_data=False, input_names=["x"], output_names=["y"],
                              dynamic_shapes=({0: torch.export.Dim("batch")},))
        except OSError:
            raise
        except Exception as e:
            raise LearnsysError(f"ONNX export of model {info['model']!r} failed: {_first_line(e)}. Try --format "
                                "torchscript or safetensors.") from None
    proto = onnx.load(str(tmp))
    onnx.helper.set_model_props(proto, {"learnsys": json.dumps(info)})
    onnx.save(proto, str(tmp))


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
