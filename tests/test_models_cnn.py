"""The built-in `cnn:C1,C2,...` against the same layers in plain PyTorch (bitwise: initial
weights, forward, gradients), its output shape, and one line for data it cannot take."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from learnsys.errors import ModelError
from learnsys.models import build_model


def plain_cnn(in_channels: int, channels: list[int], flat: int, n_outputs: int) -> nn.Sequential:
    """What the course's CNN listing builds: conv-ReLU-pool per block, then a linear head."""
    layers: list[nn.Module] = []
    for c in channels:
        layers += [nn.Conv2d(in_channels, c, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        in_channels = c
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(flat, n_outputs))


@pytest.mark.parametrize("name, item_shape, channels, flat, n_out", [
    ("cnn:16,32", (1, 8, 8), [16, 32], 32 * 2 * 2, 10),
    ("cnn:4,8,6", (3, 16, 12), [4, 8, 6], 6 * 2 * 1, 3),
    ("cnn:5", (2, 7, 9), [5], 5 * 3 * 4, 1),
])
def test_cnn_is_bitwise_the_plain_pytorch_layers_built_with_the_same_seed(name, item_shape, channels, flat, n_out):
    for seed in (0, 7):
        torch.manual_seed(seed)
        model = build_model(name, item_shape[0] * item_shape[1] * item_shape[2], n_out, item_shape=item_shape)
        torch.manual_seed(seed)
        ref = plain_cnn(item_shape[0], channels, flat, n_out)
        ours, theirs = list(model.parameters()), list(ref.parameters())
        assert len(ours) == len(theirs) and all(torch.equal(a, b) for a, b in zip(ours, theirs))
        x = torch.randn(5, *item_shape, generator=torch.Generator().manual_seed(seed + 1))   # (N, C, H, W)
        out, expected = model(x), ref(x)
        assert out.shape == (5, n_out) and torch.equal(out, expected)
        out.square().sum().backward()
        expected.square().sum().backward()
        assert all(torch.equal(a.grad, b.grad) for a, b in zip(ours, theirs))


@pytest.mark.parametrize("item_shape", [None, (64,), (8, 8), (1, 8, 0)])
def test_cnn_refuses_data_that_is_not_image_shaped(item_shape):
    with pytest.raises(ModelError) as e:
        build_model("cnn:16,32", 64, 10, item_shape=item_shape)
    line = str(e.value)
    assert "\n" not in line and line.startswith("Model 'cnn:16,32' needs image data, items of shape (C, H, W)")
    assert str(item_shape or (64,)) in line and "mlp" in line


@pytest.mark.parametrize("name, shape, message", [
    ("cnn:16,32,64,128", (1, 8, 8), "has 4 block(s), but each halves H and W and 8x8 images allow 3. "
                                    "Give at most 3 channel counts, e.g. cnn:16,32,64."),
    ("cnn:8", (1, 1, 5), "has 1 block(s), but each halves H and W and 1x5 images allow 0. Use an mlp"),
    ("cnn:a", (1, 8, 8), "'a' must be positive integers separated by commas, e.g. cnn:16,32."),
    ("cnn:16,0", (1, 8, 8), "'16,0' must be positive integers"),
])
def test_cnn_bad_layouts_are_one_line(name, shape, message):
    with pytest.raises(ModelError, match="^" + ".*".join(map(re.escape, [f"Model {name!r}", message]))):
        build_model(name, 64, 10, item_shape=shape)


def test_cnn_takes_no_model_args():
    with pytest.raises(ModelError, match=r"Model 'cnn:16' takes no model_args, got \['kernel'\]"):
        build_model("cnn:16", 64, 10, {"kernel": 5}, item_shape=(1, 8, 8))


def test_cnn_on_tabular_data_from_the_command_line_is_one_line_exit_2(cli, runs_dir):
    result = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--data", "digits", "--model", "cnn:16,32")
    lines = result.err.strip().splitlines()
    assert result.code == 2 and len(lines) == 1, result.err
    assert lines[0].startswith("error: Model 'cnn:16,32' needs image data") and "(64,)" in lines[0]
    assert not runs_dir.exists() or not [p for p in runs_dir.iterdir() if p.is_dir()]
