"""Lecture 3's twin: GD and SGD through learnsys against the course's plain listings."""

from __future__ import annotations


import pytest

from .conftest import load_example



def lecture3_gd(lr: float = 0.01, epochs: int = 100) -> tuple[list[float], list[float]]:
    """The course's lecture 3 gradient-descent listing (prints left out): w after each epoch, cost before it."""
    x_data = [1.0, 2.0, 3.0]
    y_data = [2.0, 4.0, 6.0]
    w = 1.0

    def forward(x):
        return x * w

    def cost(xs, ys):
        cost = 0
        for x, y in zip(xs, ys):
            y_pred = forward(x)
            cost += (y_pred - y) ** 2
        return cost / len(xs)

    def gradient(xs, ys):
        grad = 0
        for x, y in zip(xs, ys):
            grad += 2 * x * (x * w - y)
        return grad / len(xs)

    ws, costs = [], []
    for epoch in range(epochs):
        cost_val = cost(x_data, y_data)
        grad_val = gradient(x_data, y_data)
        w -= lr * grad_val
        ws.append(w)
        costs.append(cost_val)
    return ws, costs


def lecture3_sgd() -> list[float]:
    """The course's lecture 3 SGD listing: one sample's gradient per update, samples in order."""
    x_data = [1.0, 2.0, 3.0]
    y_data = [2.0, 4.0, 6.0]
    w = 1.0

    def gradient(x, y):
        return 2 * x * (x * w - y)

    ws = []
    for epoch in range(100):
        for x, y in zip(x_data, y_data):
            grad = gradient(x, y)
            w = w - 0.01 * grad
            ws.append(w)
    return ws


def test_lec3_twin_matches_the_gd_and_sgd_listings(tmp_path, capsys):
    twin = load_example("lec3_gd_vs_sgd").main(runs_dir=str(tmp_path / "runs"), png=str(tmp_path / "lec3.png"))
    ws, costs = lecture3_gd()
    # float32 + autograd vs Python floats + the hand-written gradient: equal to ~1e-6, not bitwise
    assert twin["gd"]["w"] == pytest.approx(ws, rel=2e-6)
    # near the minimum x·w − y cancels in float32: absolute 1e-7 (the first cost is 4.67)
    assert twin["gd"]["cost"] == pytest.approx(costs, rel=2e-5, abs=1e-7)
    assert twin["sgd"]["w"] == pytest.approx(lecture3_sgd(), rel=2e-6)
    assert len(twin["sgd"]["w"]) == 300 and len(twin["gd"]["w"]) == 100
    # lr too high: the listing and the twin both diverge, the cost grows every epoch
    high_ws, high_costs = lecture3_gd(lr=0.25, epochs=30)
    assert twin["high"]["cost"] == pytest.approx(high_costs, rel=1e-4)
    assert all(b > a for a, b in zip(twin["high"]["cost"], twin["high"]["cost"][1:]))
    out = capsys.readouterr().out
    assert "diverges" in out and (tmp_path / "lec3.png").stat().st_size > 5000


def test_smoothing_is_lecture_3s_exponentially_weighted_mean():
    smooth = load_example("lec3_gd_vs_sgd").smooth
    assert smooth([1.0, 0.0, 0.0], beta=0.5) == [1.0, 0.5, 0.25]
