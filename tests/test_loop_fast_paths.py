"""The loop's fast paths keep what they replace: a built-in loss as its functional call, the
built-in `linear` without a second Module call, and zero_grad without torch's per-call
wrappers; each steps aside when someone would notice (hooks, an optimiser's own zero_grad)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import learnsys
from learnsys.losses import direct
from learnsys.models import Linear
from learnsys.train.components import fast_zero_grad


@pytest.mark.parametrize("module, target", [
    (nn.MSELoss(), "float"), (nn.MSELoss(reduction="sum"), "float"), (nn.L1Loss(), "float"),
    (nn.CrossEntropyLoss(label_smoothing=0.1, weight=torch.tensor([1.0, 2.0, 0.5])), "class"),
    (nn.BCEWithLogitsLoss(pos_weight=torch.tensor([3.0])), "binary"),
])
def test_a_built_in_loss_as_its_functional_call_gives_the_same_bits(module, target):
    g = torch.Generator().manual_seed(0)
    out = torch.randn(16, 3 if target == "class" else 1, generator=g, requires_grad=True)
    y = {"float": torch.randn(16, 1, generator=g), "class": torch.randint(0, 3, (16,), generator=g),
         "binary": torch.randint(0, 2, (16, 1), generator=g).float()}[target]
    fast = direct(module)
    assert fast is not module
    a, b = module(out, y), fast(out, y)
    (ga,), (gb,) = torch.autograd.grad(a, out), torch.autograd.grad(b, out)
    assert torch.equal(a, b) and torch.equal(ga, gb)


def test_a_loss_with_a_hook_or_of_another_class_is_called_as_it_is():
    seen = []
    hooked = nn.MSELoss()
    hooked.register_forward_hook(lambda m, i, o: seen.append(o))
    assert direct(hooked) is hooked

    class MyLoss(nn.MSELoss):
        def forward(self, a, b):
            return super().forward(a, b) * 2

    mine = MyLoss()
    assert direct(mine) is mine and direct(len) is len


def test_linear_calls_its_layer_as_a_module_when_the_layer_is_watched():
    torch.manual_seed(0)
    model, x = Linear(2, 1), torch.randn(5, 2)
    plain = model(x)
    assert torch.equal(plain, model.linear(x))
    seen = []
    handle = model.linear.register_forward_hook(lambda m, i, o: seen.append(o))
    assert torch.equal(model(x), plain) and len(seen) == 1      # the hook ran
    handle.remove()
    handle = nn.modules.module.register_module_forward_hook(lambda m, i, o: seen.append(o))
    model(x)
    handle.remove()
    assert len(seen) == 3                                         # global hook: the outer and the inner module


def test_fast_zero_grad_sets_every_gradient_to_none_and_leaves_an_own_zero_grad_alone(runs_dir):
    model = nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(4, 3)).sum().backward()
    fast_zero_grad(opt)()
    assert all(p.grad is None for p in model.parameters())

    class Counting(torch.optim.SGD):
        calls = 0

        def zero_grad(self, set_to_none: bool = True) -> None:
            Counting.calls += 1
            super().zero_grad(set_to_none)

    opt = Counting(model.parameters(), lr=0.1)
    assert fast_zero_grad(opt) == opt.zero_grad
    patched = torch.optim.SGD(model.parameters(), lr=0.1)
    patched.zero_grad = lambda set_to_none=True: None            # set on the instance: kept too
    assert fast_zero_grad(patched) is patched.zero_grad
    learnsys.fit(nn.Linear(1, 1), "lecture", optimizer=lambda params: Counting(params, lr=0.01), epochs=7,
                 runs_dir=runs_dir, quiet=True)
    assert Counting.calls == 7                                    # the loop called the class's own zero_grad
