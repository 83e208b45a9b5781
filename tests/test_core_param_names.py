"""One naming rule for parameters in every verb: `--init`, `--grid`, the recorded series."""

from __future__ import annotations

import pytest
import torch

import learnsys
from learnsys.errors import ModelError
from learnsys.lectures.search import axis, search
from learnsys.models import apply_init, build_model, resolve_names, scalar_names


def test_short_names_belong_to_a_model_of_one_linear_layer_only():
    torch.manual_seed(0)
    linear = build_model("linear", 1, 1)
    assert scalar_names(linear) == ["w", "b"]
    apply_init(linear, {"w": 2.5, "b": -1.0})
    assert linear.linear.weight.item() == 2.5 and linear.linear.bias.item() == -1.0
    apply_init(linear, {"linear.weight": 0.5})                     # the long names still work
    assert linear.linear.weight.item() == 0.5
    wide = build_model("linear", 2, 1)                             # two weights: `w` is not one value
    assert scalar_names(wide) == ["linear.weight[0,0]", "linear.weight[0,1]", "b"]
    with pytest.raises(ModelError, match="'w'.*linear.weight\\[0,0\\]"):
        apply_init(wide, {"w": 1.0})
    net = build_model("mlp:2", 1, 1)                               # not one linear layer: no short names
    with pytest.raises(ModelError, match="'b'"):
        apply_init(net, {"b": 1.0})


def test_init_sets_one_element_or_a_whole_tensor():
    torch.manual_seed(0)
    model = build_model("linear", 2, 2)
    apply_init(model, {"linear.weight[1,0]": 3.0, "linear.bias": 0.0})
    assert model.linear.weight[1, 0].item() == 3.0 and model.linear.weight[0, 0].item() != 3.0
    assert model.linear.bias.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("init, words", [
    ({"q": 1.0, "z": 2.0}, ["'q'", "'z'", "w (= linear.weight)", "b (= linear.bias)"]),
    ({"w": 1.0, "linear.weight": 2.0}, ["same parameter"]),
    ({"w[0,3]": 1.0}, ["index out of range", "(1, 1)"]),
])
def test_bad_init_names_are_one_error_listing_the_valid_names(init, words):
    model = build_model("linear", 1, 1)
    with pytest.raises(ModelError) as e:
        apply_init(model, init)
    for word in words:
        assert word in e.value.args[0]


def test_whole_tensor_and_element_of_it_clash():
    model = build_model("linear", 2, 2)
    with pytest.raises(ModelError, match="'linear.bias' and 'linear.bias\\[1\\]'.*same parameter"):
        resolve_names(model, ["linear.bias", "linear.bias[1]"], what="init", whole_tensors=True)


def test_train_search_and_graph_take_the_same_short_names(cli, runs_dir):
    r = cli("train", "--no-ui", "--quiet", "--data", "lecture", "--init", "w=0", "b=1.5", "--epochs", "1",
            "--lr", "0.01", "--runs-dir", runs_dir, "--run-id", "short")
    assert r.code == 0, r.err
    m = learnsys.load_run("short", runs_dir=runs_dir).metrics()
    # one step of GD from w = 0, b = 1.5 on y = 2x (x = 1, 2, 3): dL/dw = 2/3·Σx(w·x + b − y) = −38/3
    assert m["param/w"][1] == [pytest.approx(0.0 - 0.01 * -38 / 3, rel=1e-6)]
    assert "param/b" in m
    r = cli("search", "--model", "linear", "--grid", "w=0:4:0.5", "--init", "b=0", "--no-store")
    assert r.code == 0, r.err
    assert "best: w = 2.0" in r.out
    r = cli("graph", "--model", "linear", "--x", "2", "--y", "4", "--init", "w=1", "b=1")
    assert r.code == 0, r.err
    assert "loss = 1" in r.out.splitlines()[0]                     # (1·2 + 1 − 4)² = 1
    r = cli("train", "--no-ui", "--quiet", "--model", "poly:2", "--init", "w=1", "--runs-dir", runs_dir)
    assert r.code == 2 and "init names unknown parameter(s) 'w'" in r.err and "w1, w2, b" in r.err


def test_search_keeps_init_by_short_name():
    r = search("linear", "lecture", {"w": axis("0:4:1")}, init={"b": 0.0})
    assert r.fixed["linear.bias"] == [0.0] and r.best() == ({"w": 2.0}, 0.0)
