"""RunSpec: the validated description of one run.

CLI flags, a TOML file (`--config run.toml`) and Python keyword arguments all become one
RunSpec; every field carries its meaning, unit and allowed values beside it (`FIELD_HELP`),
unknown keys are errors, and `convert_and_check()` lists every problem at once.

    spec = RunSpec.from_sources(toml_path="run.toml", overrides={"lr": 0.1})
    spec.save("runs/<id>/spec.toml"); RunSpec.load("runs/<id>/spec.toml") == spec
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from .errors import SpecError

GUARD_MODES = ("rollback", "warn", "off")
FEEDS = ("auto", "memory", "loader")
KEEP_BEST = ("dev/loss", "dev/accuracy", "train/loss")
MAX_CLASSES = 1_000_000
# Every integer field's range: a value outside it is one error at parse time, never a failure
# deep in the run (numpy seeds take 32 bits; SQLite integers 63).
INT_BOUNDS = {"epochs": (1, 10**9), "steps": (0, 10**12), "eval_every": (0, 10**12), "seed": (0, 2**32 - 1),
              "checkpoint_every": (1, 10**12), "keep_checkpoints": (1, 10**6), "workers": (0, 256)}
DEVICES = ("auto", "cpu", "cuda", "mps")   # and cuda:N
PRECISIONS = ("32", "bf16-mixed", "16-mixed")
SCHEDULER_INTERVALS = ("epoch", "step")


def parse_value(text: str) -> Any:
    """A command-line value as TOML would read it (numbers, booleans, quoted strings), else the text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_pairs(flag: str, items: list[str]) -> dict:
    """`--optimizer-args momentum=0.9 nesterov=true` -> {"momentum": 0.9, "nesterov": True}."""
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise SpecError(f"{flag} takes key=value pairs, got {item!r}; e.g. {flag} momentum=0.9")
        out[key.strip()] = parse_value(value.strip())
    return out


def _f(default: Any, help: str) -> Any:
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class RunSpec:
    # -- data ---------------------------------------------------------------------------
    data: str = _f("lecture5", "data set: a built-in name (lecture5: the lecture 5 listing's y = 1.98, 4.12, 5.95 "
                               "at x = 1, 2, 3, also lecture4; lecture2: 2.02, 3.98, 6.01; lecture: y = 2x; "
                               "synthetic-linear, synthetic-classes, synthetic-images, diabetes, iris, wine, "
                               "breast_cancer, breast_cancer8, digits, digits-images), a path to a .csv, .npz or .pt "
                               "file, or path/to/file.py:function")
    target: list = _f([], "CSV target column name(s); default: the last column")
    data_args: dict = _f({}, "options of synthetic data: size (rows), features, noise (std of y noise), "
                             "classes, seed")
    classes: Any = _f("auto", "class labels: auto (integer targets are class ids; cross-entropy and bce make "
                              "whole-number float targets class ids), or N, the number of classes (>= 2)")
    dev: float = _f(0.0, "fraction of rows held out as the dev set, 0 <= dev < 1 (0: no dev set)")
    standardize: bool = _f(False, "standardise features with mean/std fitted on the train part only")
    feed: str = _f("auto", "how batches reach the loop: auto (memory for tensors and arrays, loader for a "
                           "torch Dataset), memory (tensors on the device) or loader (torch DataLoader)")
    workers: int = _f(0, "DataLoader worker processes on the loader feed, >= 0 (0: load in the training process)")
    pin_memory: bool = _f(False, "pin the loader feed's batches in host memory (faster copies to a GPU)")
    # -- model --------------------------------------------------------------------------
    model: str = _f("linear", "linear-nobias, linear, poly:K, mlp:H1,H2,..., cnn:C1,C2,... (image data), logistic, "
                              "softmax, or a user nn.Module as path/to/file.py:Class or package.module:Class")
    model_args: dict = _f({}, "keyword arguments of the model (mlp: activation=relu|tanh|sigmoid|gelu; "
                              "user modules: their constructor's)")
    init: dict = _f({}, "initial values of named scalar parameters, e.g. {w1 = 1.0, b = 0.0}")
    # -- training -----------------------------------------------------------------------
    loss: str = _f("auto", "mse, mae, bce (on logits), cross-entropy (on logits), or auto "
                           "(bce for logistic, cross-entropy for softmax/classification, else mse)")
    step: str = _f("", "a user step function (model, batch) -> scalar loss, as path/to/file.py:fn or "
                       "package.module:fn; empty: loss(model(inputs), target)")
    optimizer: str = _f("sgd", "any torch.optim optimiser by name, case-insensitive (sgd, adam, adamw, rmsprop, ...), "
                               "or a user Optimizer as path/to/file.py:Class or package.module:Class")
    lr: Any = _f(0.01, "learning rate, > 0, or auto: run the LR range test first (learnsys lr-find) and train "
                       "with its suggestion")
    optimizer_args: dict = _f({}, "keyword arguments of the optimiser (momentum, weight_decay, betas, ...)")
    scheduler: str = _f("", "a torch.optim.lr_scheduler class by name (StepLR, CosineAnnealingLR, ...), "
                            "empty for none")
    scheduler_args: dict = _f({}, "keyword arguments of the scheduler")
    scheduler_interval: str = _f("epoch", "when the scheduler steps: epoch or step")
    epochs: int = _f(1000, "passes over the train data, >= 1 (ignored when steps is set)")
    steps: int = _f(0, "optimiser steps to take, >= 1; 0 means use epochs")
    batch_size: Any = _f("full", "full (gradient descent), 1 (SGD) or B >= 1 (mini-batch); "
                                 "larger than the data set means full")
    shuffle: Any = _f(True, "true: a new permutation of the train rows each epoch, a function of (seed, epoch) "
                            "(mini-batch and SGD); false: the data's order; torch: the order DataLoader(shuffle=True) "
                            "draws from torch's generator, as a plain PyTorch loop has it")
    eval_every: int = _f(0, "evaluate on the dev set every N steps, >= 0 (0: at the end of each epoch)")
    seed: int = _f(0, "torch.manual_seed(seed) right before the model is built; also seeds the data order")
    device: str = _f("auto", "auto (cuda when available, else mps, else cpu), cpu, cuda, cuda:N or mps")
    precision: str = _f("32", "32 (float32), bf16-mixed (autocast to bfloat16; CPU and GPU) or 16-mixed (float16 "
                              "with a GradScaler, whose state is checkpointed)")
    clip_grad_norm: float = _f(0.0, "clip the gradients' total norm to this before each step, >= 0 (0: off); "
                                    "the norm before clipping is recorded as grad_norm")
    early_stop: str = _f("", "METRIC:PATIENCE[:MIN_DELTA]: stop when train/loss, train/accuracy, dev/loss or "
                             "dev/accuracy has not improved for PATIENCE of its values, e.g. dev/loss:20; empty: off")
    keep_best: str = _f("", "dev/loss, dev/accuracy or train/loss (each epoch's mean): also keep the checkpoint where "
                            "it was best, beside the last keep_checkpoints; predict/export --checkpoint best use it")
    # -- robustness ---------------------------------------------------------------------
    guard: str = _f("rollback", "divergence guard on NaN/Inf/explosion: rollback (restore the last "
                                "checkpoint, lr x0.5, then x0.05, ...), warn, or off; checked every step on the CPU")
    checkpoint_every: int = _f(1000, "write a checkpoint every N steps, >= 1 (also one at the end and on Ctrl-C)")
    checkpoint_seconds: float = _f(30.0, "skip a scheduled checkpoint while the last one is younger than this many "
                                         "seconds, >= 0 (0: write at every scheduled step)")
    keep_checkpoints: int = _f(3, "how many checkpoints to keep, >= 1")
    async_checkpoint: bool = _f(False, "copy state to host memory and write checkpoints on a background thread")
    pace: float = _f(0.0, "slow training to at most this many steps per second so each step can be watched "
                          "(0: full speed)")
    run_id: str = _f("", "name of the run folder under the runs dir; empty: generated")

    # ------------------------------------------------------------------------------------

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def text_fields(cls) -> set[str]:
        """Fields whose command-line value is taken as text, never parsed as a number or boolean."""
        return {f.name for f in dataclasses.fields(cls) if f.type == "str"}

    @classmethod
    def field_help(cls) -> dict[str, str]:
        return {f.name: f.metadata["help"] for f in dataclasses.fields(cls)}

    @classmethod
    def from_dict(cls, values: dict, *, where: str = "keyword arguments") -> "RunSpec":
        """Build and validate a spec; unknown keys and bad values raise one SpecError listing all."""
        known = set(cls.field_names())
        problems = []
        for key in values:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(f"unknown key {key!r} in {where}{hint}")
        if problems:
            raise SpecError("; ".join(problems) + f". Known keys: {', '.join(sorted(known))}.")
        spec = cls(**values)
        spec.convert_and_check(where=where)
        return spec

    @classmethod
    def from_toml(cls, path: str | Path, overrides: dict | None = None) -> "RunSpec":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise SpecError(f"Cannot read config file {path}: {e.strerror}. Check the path given to --config.") from None
        try:
            values = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise SpecError(f"Config file {path} is not valid TOML: {e}. Fix the file and run again.") from None
        for key, value in (overrides or {}).items():
            values[key] = value
        return cls.from_dict(values, where=str(path))

    @classmethod
    def load(cls, path: str | Path) -> "RunSpec":
        return cls.from_toml(path)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        """Write spec.toml atomically (temp file + rename): a run killed while a resume
        rewrites it keeps a readable spec, the old one or the new one."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(self.to_toml(), encoding="utf-8")
        os.replace(tmp, path)

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    def replace(self, **changes: Any) -> "RunSpec":
        return RunSpec.from_dict({**self.to_dict(), **changes}, where="the changed fields")

    # -- derived values -----------------------------------------------------------------

    def batch_size_for(self, n_rows: int) -> int:
        """The batch size in rows for a train set of n_rows ('full' and oversize mean n_rows)."""
        if self.batch_size == "full":
            return n_rows
        return min(int(self.batch_size), n_rows)

    # -- validation ---------------------------------------------------------------------

    def convert_and_check(self, *, where: str = "the run spec") -> None:
        """Convert values to their field's type where that is safe (an int lr, "4" for batch_size),
        then check every field; one SpecError lists every problem at once."""
        p: list[str] = []

        def typed(name: str, kind: type | tuple, what: str) -> bool:
            value = getattr(self, name)
            ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
            if not ok:
                p.append(f"{name} = {value!r} is not {what}")
            return ok

        for name in sorted(self.text_fields()):
            typed(name, str, "a string")
        for name in ("target",):
            if typed(name, list, "a list of column names") and not all(isinstance(t, str) for t in self.target):
                p.append(f"target = {self.target!r} must list column names as strings")
        for name in ("data_args", "model_args", "init", "optimizer_args", "scheduler_args"):
            typed(name, dict, "a table of key = value")
        for name in ("standardize", "async_checkpoint", "pin_memory"):
            typed(name, bool, "true or false")
        if self.shuffle != "torch":
            typed("shuffle", bool, "true, false or torch")
        if isinstance(self.lr, int) and not isinstance(self.lr, bool):
            self.lr = float(self.lr)
        if self.lr != "auto" and typed("lr", float, "a number or auto") and not (math.isfinite(self.lr)
                                                                               and self.lr > 0):
            p.append(f"Invalid learning rate: lr = {self.lr!r}; use a number > 0, e.g. 0.01, or auto")
        if isinstance(self.dev, int) and not isinstance(self.dev, bool):
            self.dev = float(self.dev)
        if typed("dev", float, "a number") and not (0.0 <= self.dev < 1.0):
            p.append(f"dev = {self.dev!r} must be a fraction 0 <= dev < 1, e.g. 0.2")
        if isinstance(self.checkpoint_seconds, int) and not isinstance(self.checkpoint_seconds, bool):
            self.checkpoint_seconds = float(self.checkpoint_seconds)
        if typed("checkpoint_seconds", float, "a number") and not (math.isfinite(self.checkpoint_seconds)
                                                                   and self.checkpoint_seconds >= 0):
            p.append(f"checkpoint_seconds = {self.checkpoint_seconds!r} must be >= 0 seconds")
        if isinstance(self.clip_grad_norm, int) and not isinstance(self.clip_grad_norm, bool):
            self.clip_grad_norm = float(self.clip_grad_norm)
        if typed("clip_grad_norm", float, "a number") and not (math.isfinite(self.clip_grad_norm)
                                                               and self.clip_grad_norm >= 0):
            p.append(f"clip_grad_norm = {self.clip_grad_norm!r} must be >= 0 (0: off)")
        if isinstance(self.early_stop, str) and self.early_stop:
            from .early_stop import EarlyStopping
            try:
                EarlyStopping.parse(self.early_stop)
            except SpecError as e:
                p.append(str(e).rstrip("."))
        if isinstance(self.keep_best, str) and self.keep_best and self.keep_best not in KEEP_BEST:
            p.append(f"keep_best = {self.keep_best!r} must be one of {', '.join(KEEP_BEST)}")
        if isinstance(self.pace, int) and not isinstance(self.pace, bool):
            self.pace = float(self.pace)
        if typed("pace", float, "a number") and not (math.isfinite(self.pace) and self.pace >= 0):
            p.append(f"pace = {self.pace!r} must be >= 0 steps per second (0: full speed)")
        for name, (low, high) in INT_BOUNDS.items():
            if typed(name, int, "an integer") and not low <= getattr(self, name) <= high:
                p.append(f"{name} = {getattr(self, name)!r} must be from {low} to {high:,}")
        if isinstance(self.classes, str) and self.classes.strip().isdigit():
            self.classes = int(self.classes)
        if self.classes != "auto" and not (isinstance(self.classes, int) and not isinstance(self.classes, bool)
                                           and 2 <= self.classes <= MAX_CLASSES):
            p.append(f"classes = {self.classes!r} must be auto or a number of classes from 2 to {MAX_CLASSES:,}")
        bs = self.batch_size
        if isinstance(bs, str) and bs.strip().isdigit():
            self.batch_size = bs = int(bs)
        if bs != "full" and not (isinstance(bs, int) and not isinstance(bs, bool) and bs >= 1):
            p.append(f"batch_size = {bs!r} must be 'full', 1 (SGD) or an integer B >= 1")
        if isinstance(self.precision, (int, float)) and not isinstance(self.precision, bool):
            self.precision = str(int(self.precision)) if self.precision == 32 else str(self.precision)
        if isinstance(self.device, str) and re.fullmatch(r"cuda:\d{1,3}", self.device):
            pass  # the index is checked against the machine's devices when the run is built
        elif isinstance(self.device, str) and self.device not in DEVICES:
            p.append(f"device = {self.device!r} is not one of {', '.join(DEVICES)} or cuda:N")
        for name, allowed in (("guard", GUARD_MODES), ("precision", PRECISIONS), ("feed", FEEDS),
                              ("scheduler_interval", SCHEDULER_INTERVALS)):
            if isinstance(getattr(self, name), str) and getattr(self, name) not in allowed:
                p.append(f"{name} = {getattr(self, name)!r} is not one of {', '.join(allowed)}")
        if isinstance(self.init, dict):
            for k, v in self.init.items():
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    p.append(f"init.{k} = {v!r} must be a number")
        if isinstance(self.run_id, str) and self.run_id:
            from .store import RUN_ID_PATTERN
            if not RUN_ID_PATTERN.match(self.run_id) or ".." in self.run_id:
                p.append(f"run_id = {self.run_id!r} may use letters, digits, '_', '-' and '.' only")
        if p:
            raise SpecError(f"Invalid run spec ({where}): " + "; ".join(p) + ".")
