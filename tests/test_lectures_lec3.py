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


def test_smoothing_is_lecture_3s_exponentially_weighted_mean_everywhere():
    """c′₀ = c₀, c′ᵢ = β·cᵢ + (1 − β)·c′ᵢ₋₁ (β: the newest cost's weight) in the example, the console
    and the dashboard's server, with one default β."""
    import numpy as np

    from learnsys.sinks.console import DEFAULT_BETA, ConsoleSink, smooth
    from learnsys.ui.app import DEFAULT_BETA as DASHBOARD_BETA
    from learnsys.ui.series import ewm

    example = load_example("lec3_gd_vs_sgd")
    assert example.smooth([1.0, 0.0, 0.0], beta=0.25) == [1.0, 0.75, 0.5625]   # not 0.25: β weights cᵢ
    costs = [4.0, 1.0, 3.0, 0.5, 2.0]
    console, c = [], None
    for cost in costs:
        c = smooth(c, cost, DEFAULT_BETA)
        console.append(c)
    assert DEFAULT_BETA == DASHBOARD_BETA == example.BETA == ConsoleSink(show=False).beta
    assert console == example.smooth(costs)
    assert np.allclose(ewm(np.array(costs), DEFAULT_BETA), console, rtol=1e-12, atol=0)


def test_console_smoothing_restarts_after_a_rollback_and_after_a_non_finite_cost():
    from learnsys.sinks.console import ConsoleSink
    from learnsys.train.recorder import MetricBatch

    sink = ConsoleSink(beta=0.5, show=False)

    def costs(*values):
        sink.on_metrics(None, {"batch": MetricBatch({"train/loss": (range(len(values)), list(values))})})

    costs(2.0, 4.0)
    assert sink.smoothed == 3.0
    costs(float("inf"))
    assert sink.smoothed == float("inf")
    costs(1.0)                                          # "smoothed inf" no more: start again from the cost
    assert sink.smoothed == 1.0
    costs(3.0)
    sink.on_event(None, {"kind": "divergence", "message": "rolled back", "data": {"lr": [0.005]}})
    costs(0.25)                                         # the weights before the rollback are gone
    assert sink.smoothed == 0.25
    sink.on_event(None, {"kind": "divergence", "message": "warn only", "data": None})
    costs(0.75)
    assert sink.smoothed == 0.5
