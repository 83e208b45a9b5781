"""Exhaustive search (lecture 2): the listing's table, references, the fast path, the CLI."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from learnsys.data import DataSet
from learnsys.errors import SearchError
from learnsys.lectures.search import axis, parse_grid, search

from .conftest import load_example



def lecture2_listing() -> list[tuple[float, float]]:
    """Lecture 2's listing, as printed in the notes (prints left out)."""
    x_data = [1.0, 2.0, 3.0]
    y_data = [2.02, 3.98, 6.01]

    def forward(x):
        return x * w

    def loss(x, y):
        y_pred = forward(x)
        return (y_pred - y) * (y_pred - y)

    w_list = []
    mse_list = []
    for w in np.arange(0.0, 4.1, 0.1):
        l_sum = 0
        for x_val, y_val in zip(x_data, y_data):
            loss_val = loss(x_val, y_val)
            l_sum += loss_val
        w_list.append(w)
        mse_list.append(l_sum / 3)
    return [(float(w), float(m)) for w, m in zip(w_list, mse_list)]


def test_lec2_twin_prints_the_listing_table_bitwise(capsys):
    twin = load_example("lec2_exhaustive_search").main(verbose=True)
    assert twin == lecture2_listing()  # float == float: bitwise, 41 rows
    out = capsys.readouterr().out
    assert "w =  0.30000000000000004" in out and "best w =  2.0" in out


def test_grid_values_match_numpy_arange():
    assert axis("0:4:0.1").tolist() == np.arange(0.0, 4.1, 0.1).tolist()
    assert axis("1,2.5,3").tolist() == [1.0, 2.5, 3.0]
    assert axis("-1:1:0.5").tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]


@pytest.mark.parametrize("item, fragment", [
    ("w", "name=start:stop:step"), ("w=4:0:0.1", "stop >= start"), ("w=0:1:0", "step > 0"),
    ("w=a,b", "not start:stop:step"), ("w=0:1", "give a step"),
])
def test_bad_grids_say_what_and_how(item, fragment):
    with pytest.raises(SearchError, match=fragment):
        parse_grid([item])


def _random_linear_data(n=200, features=1, seed=0) -> DataSet:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g) * 2 + 1                       # (N, F)
    y = x @ torch.randn(features, 1, generator=g) + 0.7 + 0.3 * torch.randn(n, 1, generator=g)   # (N, 1)
    return DataSet(x, y, [f"x{i}" for i in range(features)], ["y"], 0, "random")


def test_statistics_path_matches_generic_vmap_path():
    """Sufficient statistics (float64) vs vmap (float32): |Δ| <= 1e-5·max(loss, mean y²)."""
    ds = _random_linear_data()
    grid = {"w": axis("-3:5:0.05"), "b": axis("-2:3:0.1")}
    fast = search("linear", ds, grid, method="statistics")
    slow = search("linear", ds, grid, method="vmap")
    scale = torch.maximum(slow.losses, (ds.y.double() ** 2).mean())
    assert ((fast.losses - slow.losses).abs() <= 1e-5 * scale).all()
    assert fast.best()[0] == slow.best()[0]
    # several features, a partial grid (the others keep their seeded values), the general formula
    ds3 = _random_linear_data(features=3)
    grid = {"linear.weight[0,1]": axis("-2:2:0.25"), "b": axis("-1:1:0.5")}
    fast, slow = search("linear", ds3, grid, method="statistics"), search("linear", ds3, grid, method="vmap")
    scale = torch.maximum(slow.losses, (ds3.y.double() ** 2).mean())
    assert ((fast.losses - slow.losses).abs() <= 1e-5 * scale).all()


def test_best_grid_point_is_the_closed_form_least_squares():
    ds = _random_linear_data(n=500, seed=3)
    x1 = torch.cat([ds.x.double(), torch.ones(ds.n_rows, 1, dtype=torch.float64)], 1)   # (N, 2)
    w_star, b_star = torch.linalg.lstsq(x1, ds.y.double()).solution[:, 0].tolist()
    step = 0.01
    for method in ("statistics", "vmap"):
        best, _ = search("linear", ds, {"w": axis(f"-4:4:{step}"), "b": axis(f"-2:3:{step}")}, method=method).best()
        assert abs(best["w"] - w_star) <= step / 2 + 1e-9 and abs(best["b"] - b_star) <= step / 2 + 1e-9


def test_parameters_outside_the_grid_keep_seeded_or_given_values():
    torch.manual_seed(5)
    from learnsys.models import build_model

    seeded_b = build_model("linear", 1, 1).linear.bias.item()
    r = search("linear", "lecture", {"w": axis("0:4:1")}, seed=5)
    assert r.fixed["linear.bias"] == [seeded_b]
    r = search("linear", "lecture", {"w": axis("0:4:1")}, init={"linear.bias": 0.0})
    assert r.fixed["linear.bias"] == [0.0] and r.best() == ({"w": 2.0}, 0.0)
    # poly:2 names like lecture 4: w1, w2, b
    r = search("poly:2", "lecture", {"w1": axis("-1:1:0.5"), "w2": axis("0:3:0.5")}, init={"b": 0.0})
    assert r.best()[0] == {"w1": 0.0, "w2": 2.0} and r.artifact()["kind"] == "heatmap"


def test_unknown_and_duplicate_parameter_names():
    with pytest.raises(SearchError, match="grid names unknown parameter.*'q'.*the model's parameters are w"):
        search("linear-nobias", "lecture", {"q": [1.0]})
    with pytest.raises(SearchError, match="same parameter"):
        search("linear", "lecture", {"w": [1.0], "linear.weight": [2.0]})
    with pytest.raises(SearchError, match="index out of range"):
        search("linear", "lecture", {"linear.weight[0,3]": [1.0]})


def test_chunks_under_a_memory_cap_give_the_same_losses():
    ds = _random_linear_data(n=300)
    grid = {"net.0.weight[0,0]": axis("-1:1:0.05"), "net.2.bias": axis("-1:1:0.1")}
    one = search("mlp:8", ds, grid, method="vmap", max_memory_mb=64)
    many = search("mlp:8", ds, grid, method="vmap", max_memory_mb=0.2)
    assert one.meta["chunk"] >= one.meta["total"] > many.meta["chunk"]
    assert torch.allclose(one.losses, many.losses, rtol=1e-6, atol=0)


def test_sampled_points_give_a_top_k_table():
    r = search("poly:2", "lecture5", parse_grid(["w1=-1:1", "w2=0:3", "b=-1:1"], box=True), samples=500)
    art = r.artifact(top=7)
    assert art["kind"] == "table" and len(art["top"]) == 7 and r.meta["total"] == 500
    losses = [t["loss"] for t in art["top"]]
    assert losses == sorted(losses) and set(art["top"][0]["point"]) == {"w1", "w2", "b"}


def test_ctrl_c_keeps_the_best_so_far():
    def interrupt(done, total):
        if done < total:
            raise KeyboardInterrupt

    grid = {"net.0.bias[0]": axis("-2:2:0.01")}
    r = search("mlp:4", _random_linear_data(), grid, method="vmap", max_memory_mb=0.05, on_progress=interrupt)
    assert r.meta["partial"] and 0 < r.meta["evaluated"] < r.meta["total"]
    assert torch.isnan(r.losses[r.meta["evaluated"]:]).all() and math.isfinite(r.best()[1])
    assert json.loads(json.dumps(r.artifact(), allow_nan=False))["partial"] is True  # NaN stored as null


class _Generic(nn.Module):
    """The same function as learnsys's `linear` / `linear-nobias`, in a class the search does not
    recognise: it takes the generic `vmap` path, the reference for the affine fast path."""

    def __init__(self, affine: nn.Module):
        super().__init__()
        self.inner = affine

    def forward(self, x):
        return self.inner(x)


@pytest.mark.parametrize("kind, loss, method", [("linear", "mse", "vmap"), ("linear", "mae", "vmap"),
                                                ("linear-nobias", "mse", "vmap"), ("linear", "mae", "compiled")])
def test_the_affine_fast_path_matches_the_generic_vmap_path(kind, loss, method):
    """`linear` and `linear-nobias` (3 features, 2 targets, a partial grid) as one matmul per chunk
    (lectures/affine.py) against vmap over the same model wrapped in an unknown class."""
    from learnsys.models import Linear, LinearNoBias

    g = torch.Generator().manual_seed(4)
    x = torch.randn(200, 3, generator=g)
    y = x @ torch.randn(3, 2, generator=g) + 0.2 * torch.randn(200, 2, generator=g)           # (N, T)
    ds = DataSet(x, y, ["a", "b", "c"], ["y1", "y2"], 0, "random")
    torch.manual_seed(0)
    net = Linear(3, 2) if kind == "linear" else LinearNoBias(3, 2)
    names = ("linear.weight[1,2]", "linear.bias[0]") if kind == "linear" else ("w[2,1]", "w[0,0]")
    grid = {names[0]: axis("-1:1:0.05"), names[1]: axis("-1:1:0.1")}
    fast = search(net, ds, grid, method=method, loss=loss, max_memory_mb=0.05)       # several chunks
    slow = search(_Generic(net), ds, {f"inner.{k}": v for k, v in grid.items()}, method="vmap", loss=loss)
    assert fast.meta["path"] == "affine" and "path" not in slow.meta and fast.meta["chunk"] < fast.meta["total"]
    assert torch.allclose(fast.losses, slow.losses, rtol=2e-6, atol=1e-7), (fast.losses - slow.losses).abs().max()


@pytest.mark.slow
def test_compiled_path_matches_vmap():
    ds = _random_linear_data(n=100)
    grid = {"w": axis("-1:3:0.1"), "b": axis("-1:1:0.1")}
    a = search("linear", ds, grid, method="compiled", max_memory_mb=0.1)
    b = search("linear", ds, grid, method="vmap")
    assert torch.allclose(a.losses, b.losses, rtol=1e-5, atol=1e-6)


def test_cli_search_prints_the_table_stores_the_run_and_writes_a_png(cli, runs_dir, tmp_path):
    png = tmp_path / "mse.png"
    r = cli("search", "--data", "lecture2", "--model", "linear-nobias", "--grid", "w=0:4:0.1",
            "--png", png, "--runs-dir", runs_dir)
    assert r.code == 0, r.err
    assert "w = 2.0" in r.out and "best: w = 2.0" in r.out and png.stat().st_size > 5000
    run_id = r.out.strip().splitlines()[-1].split()[3]
    con = sqlite3.connect(runs_dir / "learnsys.sqlite")
    kind, folder = con.execute("SELECT kind, folder FROM runs WHERE id = ?", (run_id,)).fetchone()
    art = json.loads(con.execute("SELECT data FROM artifacts WHERE run_id = ? AND name = 'search'",
                                 (run_id,)).fetchone()[0])
    meta = json.loads((Path(folder) / "meta.json").read_text())
    assert kind == "search" and (Path(folder) / "spec.toml").exists() and meta["kind"] == "search"
    assert meta["best"] == {"w": 2.0} and meta["grid"] == ["w=0:4:0.1"] and "search-linear-nobias" in run_id
    assert art["kind"] == "curve" and len(art["losses"]) == 41 and art["best"]["point"] == {"w": 2.0}
    r = cli("search", "--model", "linear", "--grid", "w=0:4:0.5", "b=-1:1:0.5", "--json", "--no-store")
    art = json.loads(r.out)
    assert art["kind"] == "heatmap" and len(art["losses"]) == 9 and len(art["losses"][0]) == 5


def test_cli_search_bad_input_is_one_line_and_exit_2(cli, runs_dir):
    for args in (["--grid", "w=0:4"], ["--grid", "zz=1,2"], ["--grid", "w=1,2", "--model", "nope"],
                 ["--grid", "w=0:1e9:1e-9"], ["--grid", "w=0:1", "--samples", "-3"],
                 ["--grid", "w=1,2", "--method", "statistics", "--model", "mlp:4"]):
        r = cli("search", *args, "--runs-dir", runs_dir)
        assert r.code == 2 and r.err.startswith("error: ") and len(r.err.strip().splitlines()) == 1, (args, r.err)
    assert not runs_dir.exists()


def test_classifiers_search_with_their_loss():
    from learnsys.data import load_data
    from learnsys.models import build_model

    r = search("softmax", "iris", {"linear.bias[1]": axis("-1:1:0.5")}, seed=3)
    assert r.meta["loss"] == "cross-entropy" and r.fixed["linear.weight"]
    ds = load_data("iris")
    torch.manual_seed(3)
    model = build_model("softmax", 4, 3)
    with torch.no_grad():
        model.linear.bias[1] = 0.5
        want = torch.nn.functional.cross_entropy(model(ds.x), ds.y).item()  # y: (N,) class ids
    assert r.losses[3].item() == pytest.approx(want, rel=1e-6)


def test_a_search_run_can_be_shown_and_predict_or_resume_say_why_not(cli, runs_dir):
    r = cli("search", "--grid", "w=0:4:0.5", "--runs-dir", runs_dir)
    run_id = r.out.strip().splitlines()[-1].split()[3]
    shown = cli("show", run_id, "--runs-dir", runs_dir, "--json")
    info = json.loads(shown.out)
    assert shown.code == 0 and info["kind"] == "search" and info["best"]["point"] == {"w": 2.0}
    assert info["status"] == "finished" and info["spec"]["model"] == "linear-nobias"
    for verb, extra in (("predict", ("--x", "4")), ("resume", ("--no-ui",)), ("landscape", ())):
        r = cli(verb, run_id, "--runs-dir", runs_dir, *extra)
        assert r.code == 2 and r.err.count("\n") == 1 and "search run" in r.err, (verb, r.err)


def test_product_grid_points_are_itertools_product_in_any_chunk():
    import itertools

    from learnsys.lectures.search import _product_points

    axes = [axis("0:6:1"), axis("-1:1:0.2"), axis("3,5,7,9,11")]                  # 7 × 11 × 5 = 385 points
    every = torch.tensor(list(itertools.product(*[a.tolist() for a in axes])), dtype=torch.float64)
    for start in range(0, 385, 7):
        for stop in (start + 1, start + 3, start + 17, start + 60, 385):
            stop = min(stop, 385)
            assert torch.equal(_product_points(axes, start, stop), every[start:stop]), (start, stop)
