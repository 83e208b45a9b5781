"""Built-in models and loading a user's nn.Module.

    model = build_model("poly:2", n_features=1, n_outputs=1)      # w1·x² + w2·x + b
    model = build_model("my_models.py:Net", 4, 3, {"hidden": 32})  # any nn.Module
    model = build_model("cnn:16,32", 64, 10, item_shape=(1, 8, 8))  # images (N, 1, 8, 8) -> (N, 10)
    scalar_names(model)   # ['w1', 'w2', 'b'] for models with <= 16 scalar parameters
    apply_init(model, {"w1": 1.0, "b": 0.0})
    resolve_names(model, ["w1", "b"], what="grid")   # [ScalarRef('w1', 'w1', (0,)), ...]

Built-in models name their parameters as the lectures do (`w`, `w1`, `w2`, `b`), except
`linear`, which wraps `nn.Linear` as `self.linear` exactly as lecture 5's `LinearModel`
does, so that the same seed gives the same initial weights; with one input and one output
its two scalars are still called `w` and `b` (the naming rule below, one for every verb).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
from torch import nn

from .errors import LearnsysError, ModelError
from .userclass import load_user_class

BUILTIN_MODELS = ("linear-nobias", "linear", "poly:K", "mlp:H1,H2,...", "cnn:C1,C2,...", "logistic", "softmax")
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "silu": nn.SiLU}
MAX_SCALARS = 16


class LinearNoBias(nn.Module):
    """y = x·w (lecture 2): one weight per feature and output, no bias."""

    def __init__(self, n_features: int = 1, n_outputs: int = 1):
        super().__init__()
        bound = 1.0 / math.sqrt(n_features)
        self.w = nn.Parameter(torch.empty(n_features, n_outputs).uniform_(-bound, bound))  # (F, O)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.w  # (N, F) @ (F, O)


class Linear(nn.Module):
    """y = x·wᵀ + b (lecture 5's LinearModel)."""

    def __init__(self, n_features: int = 1, n_outputs: int = 1):
        super().__init__()
        self.linear = nn.Linear(n_features, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x if x.dim() <= 2 else x.flatten(1)  # (N, F) -> (N, O); images (N, C, H, W) flattened
        lin = self.linear
        if unhooked(lin):  # what nn.Linear.forward computes, without a second Module call per step
            return nn.functional.linear(x, lin.weight, lin.bias)
        return lin(x)      # someone watches the layer (the graph view's hooks): call it as a module


try:  # torch's registries of global module hooks (dicts, filled in place by register_module_*_hook)
    from torch.nn.modules.module import (_global_backward_hooks, _global_backward_pre_hooks,
                                         _global_forward_hooks, _global_forward_pre_hooks)
    _GLOBAL_HOOKS: tuple | None = (_global_forward_hooks, _global_forward_pre_hooks, _global_backward_hooks,
                                   _global_backward_pre_hooks)
except ImportError:  # a torch that keeps them elsewhere: always call modules as modules
    _GLOBAL_HOOKS = None


def unhooked(module: nn.Module) -> bool:
    """No forward or backward hook would run if `module` were called (its own or global ones)."""
    if _GLOBAL_HOOKS is None:
        return False
    g = _GLOBAL_HOOKS
    return not (module._forward_hooks or module._forward_pre_hooks or module._backward_hooks
                or module._backward_pre_hooks or g[0] or g[1] or g[2] or g[3])


class Poly(nn.Module):
    """y = w1·x^K + ... + wK·x + b per feature, summed over features (lecture 4's poly:2).

    Evaluated as the listing writes it, `w1*x*x + w2*x + b`, left to right, so the floats match."""

    def __init__(self, degree: int, n_features: int = 1):
        super().__init__()
        self.degree = degree
        for i in range(1, degree + 1):
            setattr(self, f"w{i}", nn.Parameter(torch.randn(n_features) * 0.1))  # (F,)
        self.b = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = None
        for i in range(1, self.degree + 1):
            term = getattr(self, f"w{i}")          # (F,)
            for _ in range(self.degree + 1 - i):
                term = term * x                    # (N, F)
            out = term if out is None else out + term
        out = out + self.b                         # (N, F)
        return out if out.shape[1] == 1 else out.sum(1, keepdim=True)  # (N, 1)


class MLP(nn.Module):
    def __init__(self, n_features: int, hidden: list[int], n_outputs: int, activation: str = "relu"):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
            width = h
        layers.append(nn.Linear(width, n_outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x if x.dim() <= 2 else x.flatten(1))  # (N, F) -> (N, O); images (N, C, H, W) flattened


class CNN(nn.Module):
    """One block per channel count, conv 3×3 (padding 1) → ReLU → max-pool 2×2, then a linear
    head: `cnn:16,32` on 1×8×8 digits is 1→16 (8×8 → 4×4), 16→32 (4×4 → 2×2), 32·2·2 → n_outputs.
    The layers are made in that order, so a plain nn.Sequential of the same layers built after
    the same torch.manual_seed has the same initial weights."""

    def __init__(self, item_shape: tuple[int, int, int], channels: list[int], n_outputs: int):
        super().__init__()
        c, h, w = item_shape
        blocks: list[nn.Module] = []
        for out in channels:
            blocks += [nn.Conv2d(c, out, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c, h, w = out, h // 2, w // 2
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(c * h * w, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)               # (N, C, H, W) -> (N, C_k, H / 2^k, W / 2^k)
        return self.head(x.flatten(1))     # (N, C_k·H_k·W_k) -> (N, O)


def build_model(name: str, n_features: int, n_outputs: int, args: dict | None = None, *,
                item_shape: tuple[int, ...] | None = None) -> nn.Module:
    """Build a built-in or user model; errors name the model and list what is allowed.
    `item_shape` is one input row's shape, (C, H, W) for images; only `cnn` needs it."""
    args = dict(args or {})
    if name == "linear-nobias":
        _no_args(name, args)
        return LinearNoBias(n_features, n_outputs)
    if name in ("linear", "logistic", "softmax"):
        _no_args(name, args)
        return Linear(n_features, n_outputs)
    if name.startswith("poly:"):
        _no_args(name, args)
        degree = _int_list(name, name[5:])
        if len(degree) != 1:
            raise ModelError(f"Model {name!r}: use poly:K with one degree K >= 1, e.g. poly:2.")
        if n_outputs != 1:
            raise ModelError(f"Model {name!r} predicts one target, but the data has {n_outputs}.")
        return Poly(degree[0], n_features)
    if name.startswith("mlp:"):
        activation = args.pop("activation", "relu")
        _no_args(name, args)
        if activation not in ACTIVATIONS:
            raise ModelError(f"Unknown activation {activation!r} for {name}; use one of {', '.join(ACTIVATIONS)}.")
        return MLP(n_features, _int_list(name, name[4:]), n_outputs, activation)
    if name.startswith("cnn:"):
        _no_args(name, args)
        return _cnn(name, _int_list(name, name[4:]), n_features, n_outputs, item_shape)
    if ":" in name:
        return _user_model(name, args)
    raise ModelError(f"Unknown model {name!r}; use one of {', '.join(BUILTIN_MODELS)}, "
                     "or a user nn.Module as path/to/file.py:Class or package.module:Class.")


def _cnn(name: str, channels: list[int], n_features: int, n_outputs: int, item_shape) -> CNN:
    shape = tuple(item_shape) if item_shape is not None else (n_features,)
    if len(shape) != 3 or not all(isinstance(d, int) and d >= 1 for d in shape):
        raise ModelError(f"Model {name!r} needs image data, items of shape (C, H, W); this data's items are "
                         f"{shape}. Give image-shaped data (e.g. digits as 1x8x8 images) or use an mlp:H1,... model.")
    c, h, w = shape
    most = min(h, w).bit_length() - 1   # each block halves H and W; the last one must leave >= 1x1
    if len(channels) > most:
        fewer = f"Give at most {most} channel counts, e.g. cnn:{','.join(map(str, channels[:most]))}." if most \
            else "Use an mlp:H1,... model."
        raise ModelError(f"Model {name!r} has {len(channels)} block(s), but each halves H and W and {h}x{w} images "
                         f"allow {most}. {fewer}")
    return CNN((c, h, w), channels, n_outputs)


def _no_args(name: str, args: dict) -> None:
    if args:
        raise ModelError(f"Model {name!r} takes no model_args, got {sorted(args)}.")


def _int_list(name: str, text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        example = {"poly": "poly:2", "cnn": "cnn:16,32"}.get(name.split(":")[0], "mlp:64,64")
        raise ModelError(f"Model {name!r}: {text!r} must be positive integers separated by commas, e.g. {example}.")
    return values


def _user_model(name: str, args: dict) -> nn.Module:
    cls = load_user_class(name, nn.Module, "an nn.Module", "model", ModelError)
    try:
        return cls(**args)
    except TypeError as e:
        raise ModelError(f"Building {name} with model_args {args} failed: {e}.") from None


# -- parameter names: one rule for every verb -------------------------------------------------
#
# A scalar is named by its parameter's name when the tensor holds one value (`w`, `w1`, `b`),
# else by `name[i,j]` (`linear.weight[0,1]`). In a model that is one `linear` layer (lecture
# 5's `LinearModel`, which prints them as `w` and `b`), `linear.weight` and `linear.bias` are
# called `w` and `b` when each holds one value: those are the names shown, and the long
# names are still taken.
# `--init`, `--grid`, `landscape --params`, the `param/<name>` and `grad/<name>` series and
# the dashboard all use these names; `--init` also takes a whole tensor's name (every value).

LINEAR_SHORT_NAMES = (("w", "linear.weight"), ("b", "linear.bias"))


@dataclass(frozen=True)
class ScalarRef:
    """One named value of a model: the name given, the parameter's name and the index in it."""
    name: str           # as given: 'w', 'w1', 'linear.weight[0,1]'
    param: str          # the name in named_parameters()
    index: tuple | None  # the full index of one element; None: the whole tensor (init only)


def short_names(model: nn.Module) -> dict[str, str]:
    """{short: parameter}: in a model that is one `linear` layer (`linear`, `logistic`, lecture 5's
    LinearModel), `w` for its weight and `b` for its bias when each holds one value; else {}."""
    params = dict(model.named_parameters())
    if not set(params) <= {long for _, long in LINEAR_SHORT_NAMES}:
        return {}
    return {short: long for short, long in LINEAR_SHORT_NAMES if long in params and params[long].numel() == 1}


def scalar_names(model: nn.Module) -> list[str]:
    """One name per scalar parameter in `named_parameters()` order (`w`, `b`, `w1`,
    `linear.weight[0,1]`), or [] if the model has more than 16."""
    params = list(model.named_parameters())
    if sum(p.numel() for _, p in params) > MAX_SCALARS:
        return []
    display = {long: short for short, long in short_names(model).items()}
    names = []
    for name, p in params:
        if p.numel() == 1:
            names.append(display.get(name, name))
        else:
            for idx in torch.cartesian_prod(*[torch.arange(s) for s in p.shape]).reshape(p.numel(), -1).tolist():
                names.append(f"{name}[{','.join(map(str, idx))}]")
    return names


def valid_names(model: nn.Module, whole_tensors: bool = False) -> str:
    """What a user may write, for error messages: every scalar name, or each tensor with its shape."""
    names = scalar_names(model)
    aliases = short_names(model)
    if names:
        text = ", ".join(f"{n} (= {aliases[n]})" if n in aliases else n for n in names)
        whole = [f"{n} ({'x'.join(map(str, p.shape))})" for n, p in model.named_parameters() if p.numel() > 1]
        return text + (f"; or all values of one tensor: {', '.join(whole)}" if whole_tensors and whole else "")
    return ", ".join(f"{n} (shape {'x'.join(map(str, p.shape))}: one value is {n}[{','.join('0' * p.dim())}])"
                     if p.numel() > 1 else n for n, p in model.named_parameters())


_NAME = re.compile(r"([A-Za-z_][\w.]*)(?:\[\s*(\d+(?:\s*,\s*\d+)*)\s*\])?")


def resolve_names(model: nn.Module, names, *, what: str, whole_tensors: bool = False,
                  error: type[LearnsysError] = ModelError) -> list[ScalarRef]:
    """The parameters and indices `names` refer to, by the rule above. With `whole_tensors`
    a multi-value tensor's own name means all its values (index None). Unknown names, bad
    indices and a value named twice are one `error` that lists every problem and the valid names."""
    params = dict(model.named_parameters())
    aliases = short_names(model)
    out, bad = [], []
    for name in names:
        m = _NAME.fullmatch(str(name).strip())
        pname = m and aliases.get(m.group(1), m.group(1))
        if not m or pname not in params:
            bad.append(repr(name))
            continue
        p = params[pname]
        if m.group(2) is None:
            if p.numel() == 1:
                out.append(ScalarRef(name, pname, (0,) * p.dim()))
            elif whole_tensors:
                out.append(ScalarRef(name, pname, None))
            else:
                bad.append(f"{name!r} (holds {p.numel()} values; name one as {pname}[{','.join('0' * p.dim())}])")
            continue
        index = tuple(int(i) for i in m.group(2).split(","))
        if len(index) != p.dim() or any(not 0 <= i < s for i, s in zip(index, p.shape)):
            bad.append(f"{name!r} (index out of range for shape {tuple(p.shape)})")
            continue
        out.append(ScalarRef(name, pname, index))
    if bad:
        raise error(f"{what} names unknown parameter(s) {', '.join(bad)}; the model's parameters are "
                    f"{valid_names(model, whole_tensors)}.")
    seen: dict[str, dict] = {}                         # parameter -> {flat element or None: the name}
    for ref in out:
        taken = seen.setdefault(ref.param, {})
        flat = None if ref.index is None else flat_index(params[ref.param].shape, ref.index)
        clash = next((n for k, n in taken.items() if flat is None or k is None or k == flat), None)
        if clash is not None:
            raise error(f"{what} names {clash!r} and {ref.name!r}, which are the same parameter; give it once.")
        taken[flat] = ref.name
    return out


def flat_index(shape, index: tuple) -> int:
    """The position of `index` in the tensor flattened in C order (`p.reshape(-1)[flat]`)."""
    flat = 0
    for i, size in zip(index, shape):
        flat = flat * size + i
    return flat


def apply_init(model: nn.Module, init: dict) -> None:
    """Set named values (`w1 = 1.0`, `b = 0`, `linear.weight[0,1] = 2`, `linear.bias = 0` for
    every value of a tensor); unknown names are one error listing the valid ones."""
    if not init:
        return
    refs = resolve_names(model, list(init), what="init", whole_tensors=True)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for ref in refs:
            target = params[ref.param] if ref.index is None else params[ref.param][ref.index]
            target.fill_(float(init[ref.name]))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
