"""Per-step gradients (`grad/<name>`) for small models, against plain PyTorch loops, bitwise."""

from __future__ import annotations

import pytest
import torch

import learnsys


def lecture4_listing_grads(epochs: int) -> dict[str, list[float]]:
    """Lecture 4's listing with optim.SGD (what `learnsys train --optimizer sgd` runs), keeping what
    it prints every step: `w1.grad.item()`, `w2.grad.item()`, `b.grad.item()`."""
    x_data, y_data = [1.0, 2.0, 3.0], [1.98, 4.12, 5.95]
    w1, w2, b = (torch.tensor([1.0], requires_grad=True) for _ in range(3))
    opt = torch.optim.SGD([w1, w2, b], lr=0.01)
    printed = {"w1": [], "w2": [], "b": []}
    for epoch in range(epochs):
        for x, y in zip(x_data, y_data):
            l = (w1 * x * x + w2 * x + b - y) ** 2
            l.backward()
            for name, p in (("w1", w1), ("w2", w2), ("b", b)):
                printed[name].append(p.grad.item())
            opt.step()
            opt.zero_grad()
    return printed


def test_grad_series_are_the_listings_w_grad_every_step(runs_dir):
    run = learnsys.fit("poly:2", "lecture4", optimizer="sgd", lr=0.01, epochs=20, batch_size=1, shuffle=False,
                       init={"w1": 1.0, "w2": 1.0, "b": 1.0}, runs_dir=runs_dir)
    m = run.metrics()
    expected = lecture4_listing_grads(20)
    for name in ("w1", "w2", "b"):
        steps, values = m[f"grad/{name}"]
        assert steps == list(range(1, 61))
        assert values == expected[name]                  # bitwise: the same floats
    assert m["grad/w1"][1][0] == pytest.approx(2 * (3.0 - 1.98), rel=1e-6)  # step 1: 2·(ŷ − y)·x², ŷ = 3 at x = 1


def test_grad_series_with_adam_full_batch_match_a_plain_loop(runs_dir):
    run = learnsys.fit("linear", "lecture5", optimizer="adam", lr=0.05, epochs=30, runs_dir=runs_dir)
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    x, y = torch.tensor([[1.0], [2.0], [3.0]]), torch.tensor([[1.98], [4.12], [5.95]])
    gw, gb = [], []
    for _ in range(30):
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        gw.append(model.weight.grad.item())
        gb.append(model.bias.grad.item())
        opt.step()
    m = run.metrics()
    assert m["grad/w"][1] == gw and m["grad/b"][1] == gb


class TwoParts(torch.nn.Module):
    """A model with a parameter the loss never reaches: its .grad stays None."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([[0.5, -0.5]]))     # (1, 2)
        self.unused = torch.nn.Parameter(torch.tensor([1.0]))

    def forward(self, x):
        return x @ self.w.T                                          # (N, 2) @ (2, 1)


def test_grad_of_a_matrix_element_and_of_an_unused_parameter(runs_dir):
    x = [[1.0, 2.0], [3.0, 4.0]]
    y = [[1.0], [2.0]]
    run = learnsys.fit(TwoParts(), (x, y), optimizer="sgd", lr=0.01, epochs=3, runs_dir=runs_dir)
    m = run.metrics()
    # step 1 by hand: r = x·wᵀ − y = (1·0.5 − 2·0.5 − 1, 3·0.5 − 4·0.5 − 2) = (−1.5, −2.5);
    # ∂MSE/∂w = 2/N · rᵀ·x = (−1.5·1 − 2.5·3, −1.5·2 − 2.5·4) = (−9, −13)
    assert m["grad/w[0,0]"][1][0] == -9.0 and m["grad/w[0,1]"][1][0] == -13.0
    assert m["grad/unused"][1] == [0.0, 0.0, 0.0]
    assert m["param/unused"][1] == [1.0, 1.0, 1.0]


def test_no_grad_series_for_models_over_16_scalars(runs_dir):
    run = learnsys.fit("mlp:8", "lecture5", epochs=2, runs_dir=runs_dir)
    assert not [name for name in run.metrics() if name.startswith(("grad/", "param/"))]


def test_the_accelerator_path_records_the_same_values_as_the_cpu_path():
    """The device-buffer path (no .item() per step), run here on CPU tensors, against the CPU path."""
    from learnsys.train.recorder import MetricRecorder
    from learnsys.train.state import Progress

    torch.manual_seed(0)
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    names = ["linear.weight[0,0]", "linear.weight[0,1]", "linear.weight[1,0]", "linear.weight[1,1]",
             "linear.bias[0]", "linear.bias[1]"]
    params = list(model.parameters())
    recorders = [MetricRecorder(Progress(), names, params, epoch_means=False, device_buffers=flag, max_rows=4)
                 for flag in (False, True)]
    x, y = torch.randn(5, 2), torch.randn(5, 2)
    expected = []
    for step in range(1, 7):                             # past max_rows: the device buffer grows
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        expected.append(torch.cat([p.grad.reshape(-1) for p in params]).tolist())
        opt.step()
        for r in recorders:
            r.record(step, loss, 0.1)
    cpu, device = (r.flush().series for r in recorders)
    assert cpu == device
    assert [list(v) for v in zip(*(cpu[f"grad/{n}"][1] for n in names))] == expected


def test_grad_series_are_the_clipped_gradients_the_step_used(runs_dir):
    run = learnsys.fit("linear", "lecture5", optimizer="sgd", lr=0.01, epochs=3, clip_grad_norm=1.0,
                       runs_dir=runs_dir)
    m = run.metrics()
    for step in range(3):
        norm = (m["grad/w"][1][step] ** 2 + m["grad/b"][1][step] ** 2) ** 0.5
        assert norm == pytest.approx(1.0, rel=1e-5) and m["grad_norm"][1][step] > 1.0   # clipped from above 1
