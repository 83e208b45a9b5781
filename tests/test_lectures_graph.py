"""Computational graph and gradient check (lecture 4): the listing twin, hand-derived values,
autograd, finite differences, the closed form, the CLI."""

from __future__ import annotations

import json
import sqlite3

import pytest
import torch

from learnsys.lectures.graph import capture, graph_for, text_tree, to_dot
from learnsys.lectures.gradcheck import gradcheck
from learnsys.models import build_model
from learnsys.losses import build_loss

from .conftest import load_example



def lecture4_listing(use_optim_sgd: bool = False) -> list[float]:
    """Lecture 4's listing as printed in the notes (prints left out); optionally with optim.SGD."""
    x_data = [1.0, 2.0, 3.0]
    y_data = [1.98, 4.12, 5.95]
    w1 = torch.tensor([1.0], requires_grad=True)
    w2 = torch.tensor([1.0], requires_grad=True)
    b = torch.tensor([1.0], requires_grad=True)

    def forward(x):
        return w1 * x * x + w2 * x + b

    def loss(x, y):
        y_pred = forward(x)
        return (y_pred - y) ** 2

    opt = torch.optim.SGD([w1, w2, b], lr=0.01) if use_optim_sgd else None
    for epoch in range(100):
        for x, y in zip(x_data, y_data):
            l = loss(x, y)
            l.backward()
            if opt is not None:
                opt.step()
                opt.zero_grad()
                continue
            w1.data = w1.data - 0.01 * w1.grad.data
            w2.data = w2.data - 0.01 * w2.grad.data
            b.data = b.data - 0.01 * b.grad.data
            w1.grad.data.zero_()
            w2.grad.data.zero_()
            b.grad.data.zero_()
    return [w1.item(), w2.item(), b.item()]


def test_lec4_twin_gives_the_listings_w1_w2_b_bitwise(tmp_path):
    twin = load_example("lec4_backprop_quadratic").main(runs_dir=str(tmp_path / "runs"), verbose=False)
    assert list(twin["listing"].values()) == lecture4_listing()
    # learnsys's normal path (optim.SGD, fused update) equals the listing written with optim.SGD ...
    assert list(twin["fused"].values()) == lecture4_listing(use_optim_sgd=True)
    # ... and parts from the hand-written update in the last bits, which is why the twin has ListingSGD
    assert twin["fused"] != twin["listing"]
    assert max(abs(a - b) for a, b in zip(twin["fused"].values(), twin["listing"].values())) < 1e-5


def _poly_graph(x=2.0, y=4.0):
    return graph_for("poly:2", [x], [y], init={"w1": 1.0, "w2": 1.0, "b": 1.0})


def test_graph_values_and_gradients_match_the_chain_rule_by_hand():
    g = _poly_graph()
    by_label = {}
    for n in g["nodes"]:
        by_label.setdefault(n["label"], []).append(n)
    val = lambda n: n["value"]["value"] if not isinstance(n["value"]["value"], list) else \
        torch.tensor(n["value"]["value"]).item()  # noqa: E731
    grad = lambda n: torch.tensor(n["grad"]["value"]).item()  # noqa: E731
    # pred = w1·x·x + w2·x + b = 4 + 2 + 1 = 7; r = 7 − 4 = 3; loss = mean(r²) = 9
    # ∂loss/∂r² = 1 (the mean of one value), ∂loss/∂r = 2r = 6, ∂loss/∂pred = 6, ∂loss/∂y = −6
    assert g["loss"] == 9.0 and g["nodes"][0]["kind"] == "loss" and g["nodes"][0]["name"] == "mean"
    assert (val(by_label["mean(r²)"][0]), grad(by_label["mean(r²)"][0])) == (9.0, 1.0)
    assert (val(by_label["r²"][0]), grad(by_label["r²"][0])) == (9.0, 1.0)
    assert (val(by_label["r = ŷ − y"][0]), grad(by_label["r = ŷ − y"][0])) == (3.0, 6.0)
    assert (val(by_label["ŷ = add"][0]), grad(by_label["ŷ = add"][0])) == (7.0, 6.0)
    assert grad(by_label["w1"][0]) == 6 * 2 * 2 and grad(by_label["w2"][0]) == 6 * 2 and grad(by_label["b"][0]) == 6
    assert grad(by_label["x"][0]) == 6 * (2 * 1 * 2 + 1) and grad(by_label["y"][0]) == -6
    assert sorted(val(n) for n in by_label["mul"]) == [2.0, 2.0, 4.0]
    assert all("Backward" not in n["name"] for n in g["nodes"])
    assert {n["name"] for n in g["nodes"] if n["kind"] == "op"} == {"mul", "add", "sub", "pow"}
    fused = graph_for("poly:2", [2.0], [4.0], init={"w1": 1.0, "w2": 1.0, "b": 1.0}, loss_steps=False)
    assert fused["loss"] == 9.0 and fused["nodes"][0]["name"] == "mse_loss"
    assert len(fused["nodes"]) == len(g["nodes"]) - 2                  # sub, pow, mean: one mse_loss


def test_mse_steps_of_a_two_target_sample_by_hand():
    """linear, 1 feature, 2 targets: ŷ = (w0·x + b0, w1·x + b1) at x = 2 with w = (1, 2), b = (0, 1):
    ŷ = (2, 5); y = (1, 1): r = (1, 4), r² = (1, 16), loss = 8.5; ∂loss/∂r² = 1/2 each,
    ∂loss/∂r = r = (1, 4), ∂loss/∂w = r·x = (2, 8), ∂loss/∂b = r = (1, 4)."""
    init = {"linear.weight[0,0]": 1.0, "linear.weight[1,0]": 2.0, "linear.bias[0]": 0.0, "linear.bias[1]": 1.0}
    g = graph_for("linear", [2.0], [1.0, 1.0], init=init)
    node = {n["label"]: n for n in g["nodes"]}
    assert g["loss"] == 8.5 and node["mean(r²)"]["grad"]["value"] == 1.0
    assert node["r²"]["value"]["value"] == [[1.0, 16.0]] and node["r²"]["grad"]["value"] == [[0.5, 0.5]]
    assert node["r = ŷ − y"]["value"]["value"] == [[1.0, 4.0]] and node["r = ŷ − y"]["grad"]["value"] == [[1.0, 4.0]]
    assert node["ŷ = linear"]["value"]["value"] == [[2.0, 5.0]]
    assert node["linear.weight"]["grad"]["value"] == [[2.0], [8.0]]
    assert node["linear.bias"]["grad"]["value"] == [1.0, 4.0]


def test_graph_gradients_equal_autograd_and_backward_order_is_topological():
    torch.manual_seed(0)
    model = build_model("mlp:5,4", 3, 2, {"activation": "tanh"})
    loss_fn = build_loss("mse")
    x, y = torch.randn(1, 3), torch.randn(1, 2)
    g = capture(model, x, y, loss_fn)
    loss = loss_fn(model(x), y)
    names = [n for n, _ in model.named_parameters()]
    ref = dict(zip(names, torch.autograd.grad(loss, list(model.parameters()))))
    for n in g["nodes"]:
        if n["kind"] == "param":
            want = ref[n["name"]].double()
            got = n["grad"]["value"] if "value" in n["grad"] else n["grad"]["preview"]
            if "value" not in n["grad"]:
                want = want.flatten()[:len(got)]
                assert n["grad"]["norm"] == pytest.approx(ref[n["name"]].double().norm().item(), rel=1e-6)
            assert torch.allclose(torch.tensor(got, dtype=torch.float64), want, rtol=1e-6, atol=1e-9)
    # every node's gradient is known only after all the nodes that use it
    pos = {nid: i for i, nid in enumerate(g["backward_order"])}
    assert g["backward_order"][0] == g["nodes"][0]["id"] and len(pos) == len(g["nodes"])
    assert all(pos[e["target"]] < pos[e["source"]] for e in g["edges"])
    # layers: inputs below the ops that use them
    layer = {n["id"]: n["layer"] for n in g["nodes"]}
    assert all(layer[e["source"]] < layer[e["target"]] for e in g["edges"])
    assert {n["module"] for n in g["nodes"] if n["name"] == "linear"} == {"net.0", "net.2", "net.4"}


def test_big_graphs_collapse_into_module_boxes():
    torch.manual_seed(0)
    model = build_model("mlp:" + ",".join(["3"] * 60), 2, 1)
    loss_fn = build_loss("mse")
    g = capture(model, torch.randn(1, 2), torch.randn(1, 1), loss_fn)
    assert len(g["nodes"]) > 200 and g["collapsed"]
    grouped = {nid for grp in g["groups"] for nid in grp["nodes"]}
    assert len(g["groups"]) > 60 and all(n.get("group") for n in g["nodes"] if n["id"] in grouped)
    assert json.loads(json.dumps(g, allow_nan=False))


def test_text_tree_and_dot():
    g = _poly_graph()
    lines = text_tree(g)
    assert lines[2].startswith("mean(r²)  value 9  grad 1") and any("(see above)" in l for l in lines)
    dot = to_dot(g)
    assert dot.startswith("digraph") and dot.count("->") == len(g["edges"])


def test_gradcheck_linear_mse_closed_form_autograd_and_finite_differences():
    from learnsys.data import load_data

    ds = load_data("synthetic-linear", data_args={"features": 3, "size": 200})
    for name in ("linear", "linear-nobias"):
        torch.manual_seed(0)
        model = build_model(name, 3, 1)
        report = gradcheck(model, ds.x, ds.y, build_loss("mse"), loss_name="mse")
        assert report["analytic"]
        for row in report["params"]:
            assert row["analytic_vs_autograd"] < 1e-12 and row["autograd_vs_fd"] < 1e-6, row
    torch.manual_seed(0)
    model = build_model("mlp:8", 3, 1, {"activation": "tanh"})
    report = gradcheck(model, ds.x, ds.y, build_loss("mse"))
    assert not report["analytic"] and max(r["autograd_vs_fd"] for r in report["params"]) < 1e-5


def test_cli_graph_and_gradcheck(cli, tmp_path):
    dot = tmp_path / "g.dot"
    r = cli("graph", "--model", "poly:2", "--x", "2", "--y", "4", "--init", "w1=1", "w2=1", "b=1", "--dot", dot)
    assert r.code == 0 and "r = ŷ − y  value 3  grad 6" in r.out and dot.read_text().startswith("digraph")
    r = cli("graph", "--model", "poly:2", "--x", "2", "--y", "4", "--init", "w1=1", "w2=1", "b=1", "--fused-loss")
    assert r.code == 0 and "mse_loss  value 9  grad 1" in r.out and "r²" not in r.out
    r = cli("graph", "--model", "poly:2", "--x", "2", "--y", "4", "--json")
    assert json.loads(r.out)["nodes"][0]["kind"] == "loss"
    r = cli("graph", "--model", "poly:2")
    assert r.code == 2 and "--x" in r.err
    r = cli("gradcheck", "--model", "linear", "--data", "lecture")
    assert r.code == 0 and "analytic_vs_autograd" in r.out


def test_cli_graph_of_a_trained_run_stores_the_artifact(cli, runs_dir):
    import learnsys

    run = learnsys.fit("poly:2", "lecture5", runs_dir=runs_dir, epochs=5, quiet=True)
    r = cli("graph", run.run_id, "--sample", "2", "--runs-dir", runs_dir)
    assert r.code == 0, r.err
    assert "y (target)  value 5.95" in r.out
    con = sqlite3.connect(runs_dir / "learnsys.sqlite")
    art = json.loads(con.execute("SELECT data FROM artifacts WHERE run_id = ? AND name = 'graph'",
                                 (run.run_id,)).fetchone()[0])
    assert art["sample_index"] == 2 and art["run"] == run.run_id
    r = cli("graph", run.run_id, "--sample", "3", "--runs-dir", runs_dir)
    assert r.code == 2 and "out of range" in r.err
