"""Loss landscapes: exact surfaces with the path, the live callback, Li et al.'s planes, the CLI."""

from __future__ import annotations

import json
import sqlite3

import pytest
import torch

import learnsys
from learnsys.lectures.landscape import exact_landscape
from learnsys.lectures.planes import filter_normalized_direction, pca_plane, plane_landscapes
from learnsys.losses import build_loss
from learnsys.models import build_model
from learnsys.sinks.landscape import LiveLandscape, SnapshotRecorder


def _artifact(runs_dir, run_id, name="landscape"):
    con = sqlite3.connect(runs_dir / "learnsys.sqlite")
    row = con.execute("SELECT data FROM artifacts WHERE run_id = ? AND name = ?", (run_id, name)).fetchone()
    return None if row is None else json.loads(row[0])


def test_exact_surface_matches_the_loss_computed_point_by_point():
    torch.manual_seed(0)
    model = build_model("poly:2", 1, 1)
    x = torch.tensor([[1.0], [2.0], [3.0]])
    y = torch.tensor([[1.98], [4.12], [5.95]])
    mse = build_loss("mse")
    path = torch.tensor([[0.0, 1.0], [0.5, 0.8]], dtype=torch.float64)     # (w1, w2)
    art = exact_landscape(model, ["w1", "w2"], x, y, mse, path, [0, 1], loss_name="mse", resolution=7)
    xs, ys = art["axes"][0]["values"], art["axes"][1]["values"]
    assert len(art["losses"]) == 7 and len(art["losses"][0]) == 7          # rows over w2 (y axis)
    with torch.no_grad():
        for j in (0, 3, 6):
            for i in (0, 2, 5):
                model.w1.fill_(xs[i])
                model.w2.fill_(ys[j])
                assert art["losses"][j][i] == pytest.approx(mse(model(x), y).item(), rel=1e-6)
    assert xs[0] < 0.0 and xs[-1] > 0.5 and ys[0] < 0.8 and ys[-1] > 1.0  # the box holds the path
    assert art["path"]["x"] == [0.0, 0.5] and art["path"]["steps"] == [0, 1]


def test_landscape_of_a_trained_linear_run_draws_the_whole_path(cli, runs_dir, tmp_path):
    run = learnsys.fit("linear", "lecture", runs_dir=runs_dir, epochs=50, lr=0.05, quiet=True)
    png = tmp_path / "l.png"
    r = cli("landscape", run.run_id, "--resolution", "21", "--png", png, "--runs-dir", runs_dir)
    assert r.code == 0, r.err
    art = _artifact(runs_dir, run.run_id)
    assert art["kind"] == "exact" and art["params"] == ["w", "b"]
    assert art["path"]["steps"] == list(range(51)) and png.stat().st_size > 5000
    final = run.params()
    assert art["path"]["x"][-1] == final["linear.weight"].item() and art["path"]["y"][-1] == final["linear.bias"].item()
    torch.manual_seed(0)
    start = build_model("linear", 1, 1)
    assert art["path"]["x"][0] == start.linear.weight.item()              # step 0: the seeded weights
    losses = art["path"]["loss"]
    assert losses[-1] < losses[0] and all(v is not None for v in losses)


def test_live_landscape_during_training():
    import tempfile
    from pathlib import Path

    runs_dir = Path(tempfile.mkdtemp()) / "runs"
    cb = LiveLandscape(runs_dir / "learnsys.sqlite", "live", min_interval=0.02)
    learnsys.fit("linear-nobias", "lecture2", runs_dir=runs_dir, run_id="live", epochs=400, lr=0.01,
                 quiet=True, callbacks=[cb])
    assert cb.error is None and cb.writes >= 1
    art = _artifact(runs_dir, "live")
    assert art["live"] is False and art["step"] == 400 and art["path"]["steps"][0] == 0
    values = art["axes"][0]["values"]
    assert values[0] <= min(art["path"]["x"]) and max(art["path"]["x"]) <= values[-1]
    assert len(art["losses"]) == 41 and art["path"]["x"][-1] == pytest.approx(2.0, abs=0.02)


def test_filter_normalised_directions_follow_li_et_al():
    torch.manual_seed(0)
    model = build_model("mlp:6,5", 3, 2)
    params = {k: v.detach() for k, v in model.named_parameters()}
    d = filter_normalized_direction(params, torch.Generator().manual_seed(1))
    for name, p in params.items():
        if p.dim() == 1:
            assert (d[name] == 0).all()                                     # biases zeroed
        else:
            assert torch.allclose(d[name].norm(dim=1), p.norm(dim=1), rtol=1e-5)  # each filter's norm


def test_pca_plane_recovers_a_path_that_lies_in_a_plane():
    g = torch.Generator().manual_seed(0)
    final = torch.randn(50, generator=g, dtype=torch.float64)
    u, v = torch.linalg.qr(torch.randn(50, 2, generator=g, dtype=torch.float64))[0].T
    t = torch.linspace(0, 1, 20, dtype=torch.float64)
    snaps = final + (3 * (1 - t))[:, None] * u + torch.sin(6 * t)[:, None] * v    # (20, 50)
    v1, v2, ratios, coords = pca_plane(snaps, final)
    assert sum(ratios) == pytest.approx(1.0, abs=1e-9)
    rebuilt = final + coords[:, :1] * v1 + coords[:, 1:] * v2
    assert torch.allclose(rebuilt, snaps, atol=1e-9)


def test_planes_for_a_larger_model_with_snapshots(cli, runs_dir):
    run_id = "mlp-run"
    rec = SnapshotRecorder(runs_dir / run_id, every=2)
    learnsys.fit("mlp:8", "synthetic-linear", runs_dir=runs_dir, run_id=run_id, epochs=8, batch_size=100,
                 data_args={"size": 400}, optimizer="adam", lr=0.01, quiet=True, callbacks=[rec])
    assert len(rec.steps) >= 3
    r = cli("landscape", run_id, "--resolution", "7", "--runs-dir", runs_dir)
    assert r.code == 0, r.err
    art = _artifact(runs_dir, run_id)
    assert art["kind"] == "plane" and len(art["losses"]) == 7 and "pca" in art
    assert art["pca"]["path"]["steps"] == rec.steps and len(art["pca"]["losses"][0]) == 7


def test_plane_centre_is_the_loss_at_the_weights():
    torch.manual_seed(0)
    model = build_model("mlp:4", 2, 1)
    x, y = torch.randn(30, 2), torch.randn(30, 1)
    mse = build_loss("mse")
    art = plane_landscapes(model, x, y, mse, resolution=5)
    with torch.no_grad():
        assert art["losses"][2][2] == pytest.approx(mse(model(x), y).item(), rel=1e-6)


def test_landscape_bad_input(cli, runs_dir):
    r = cli("landscape", "no-such-run", "--runs-dir", runs_dir)
    assert r.code == 2 and r.err.startswith("error: ")
    r = cli("landscape", "x", "--resolution", "1", "--runs-dir", runs_dir)
    assert r.code == 2 and "--resolution" in r.err


def test_background_landscape_after_checkpoints(runs_dir):
    from learnsys.sinks.landscape import BackgroundLandscape

    cb = BackgroundLandscape(runs_dir, "bg", resolution=5)
    learnsys.fit("mlp:6", "synthetic-linear", runs_dir=runs_dir, run_id="bg", epochs=4, batch_size=250,
                 data_args={"size": 500}, checkpoint_every=4, checkpoint_seconds=0, quiet=True, callbacks=[cb])
    assert cb.started >= 1
    assert cb.process.wait(timeout=120) == 0
    art = _artifact(runs_dir, "bg")
    assert art["kind"] == "plane" and art["step"] == 8 and len(art["losses"]) == 5


def test_live_landscape_keeps_the_path_across_a_resume(runs_dir):
    first = LiveLandscape(runs_dir / "learnsys.sqlite", "res", min_interval=0.01)
    learnsys.fit("linear", "lecture", runs_dir=runs_dir, run_id="res", epochs=30, lr=0.02, quiet=True,
                 checkpoint_every=10, checkpoint_seconds=0, callbacks=[first])
    second = LiveLandscape(runs_dir / "learnsys.sqlite", "res", min_interval=0.01)
    learnsys.resume("res", runs_dir=runs_dir, changes={"epochs": 60}, quiet=True, callbacks=[second])
    assert first.error is None and second.error is None
    art = _artifact(runs_dir, "res")
    assert art["path"]["steps"] == list(range(1, 61)) and art["step"] == 60 and art["live"] is False


POLY_RUN = ["--model", "poly:2", "--data", "lecture4", "--init", "w1=1", "w2=1", "b=1", "--batch-size", "1",
            "--shuffle", "false", "--epochs", "100", "--no-ui", "--quiet"]


def _poly_loss(w1: float, w2: float, b: float) -> float:
    """The MSE of w1·x² + w2·x + b on the lecture 4 data, in float64 by hand."""
    xs, ys = (1.0, 2.0, 3.0), (1.98, 4.12, 5.95)
    return sum((w1 * x * x + w2 * x + b - y) ** 2 for x, y in zip(xs, ys)) / 3


def test_three_scalars_get_the_pca_plane_of_the_whole_path_and_a_varying_random_plane(cli, runs_dir, tmp_path):
    assert cli("train", *POLY_RUN, "--run-id", "q", "--runs-dir", runs_dir).code == 0
    png = tmp_path / "q.png"
    r = cli("landscape", "q", "--resolution", "11", "--png", png, "--runs-dir", runs_dir)
    assert r.code == 0, r.err
    art = _artifact(runs_dir, "q")
    assert art["kind"] == "plane" and art["scalars"] == ["w1", "w2", "b"]
    flat = [v for row in art["losses"] for v in row]
    assert len(set(flat)) > 100                                  # not one value 121 times (issue 11)
    pca = art["pca"]
    assert pca["path"]["steps"] == list(range(301)) and 0.9 < sum(pca["explained"]) < 1.0   # 2 of 3 axes
    assert pca["path"]["loss"][0] == pytest.approx(_poly_loss(1.0, 1.0, 1.0), rel=1e-6)   # step 0: the init
    final = learnsys.load_run("q", runs_dir=runs_dir).params()
    end = _poly_loss(final["w1"].item(), final["w2"].item(), final["b"].item())
    assert pca["path"]["loss"][-1] == pytest.approx(end, rel=1e-5)
    assert pca["path"]["x"][-1] == pytest.approx(0.0, abs=1e-9)     # the plane is centred on the final weights
    assert png.stat().st_size > 5000 and (tmp_path / "q-pca.png").stat().st_size > 5000
    assert "--params w1 w2" in r.out


def test_a_slice_through_two_chosen_scalars_with_the_others_final(cli, runs_dir, tmp_path):
    assert cli("train", *POLY_RUN, "--run-id", "q", "--runs-dir", runs_dir).code == 0
    r = cli("landscape", "q", "--params", "w1", "w2", "--resolution", "9", "--png", tmp_path / "s.png",
            "--runs-dir", runs_dir)
    assert r.code == 0, r.err
    art = _artifact(runs_dir, "q")
    final = {k: v.item() for k, v in learnsys.load_run("q", runs_dir=runs_dir).params().items()}
    assert art["kind"] == "exact" and art["params"] == ["w1", "w2"] and art["fixed"] == {"b": final["b"]}
    xs, ys = art["axes"][0]["values"], art["axes"][1]["values"]
    for j, i in ((0, 0), (4, 7), (8, 8)):                        # rows over w2, columns over w1; b final
        assert art["losses"][j][i] == pytest.approx(_poly_loss(xs[i], ys[j], final["b"]), rel=1e-5)
    path = art["path"]
    assert path["steps"] == list(range(301)) and (path["x"][0], path["y"][0]) == (1.0, 1.0)
    assert (path["x"][-1], path["y"][-1]) == (final["w1"], final["w2"])
    # the path's losses are the training's (b moves too), not the slice's
    assert path["loss"][0] == pytest.approx(_poly_loss(1.0, 1.0, 1.0), rel=1e-6)
    r = cli("landscape", "q", "--params", "b", "--resolution", "5", "--runs-dir", runs_dir)
    assert r.code == 0 and _artifact(runs_dir, "q")["fixed"] == {"w1": final["w1"], "w2": final["w2"]}


def test_landscape_params_bad_input(cli, runs_dir):
    assert cli("train", *POLY_RUN, "--epochs", "2", "--run-id", "q", "--runs-dir", runs_dir).code == 0
    r = cli("landscape", "q", "--params", "w1", "w2", "b", "--runs-dir", runs_dir)
    assert r.code == 2 and "1 or 2 scalar names" in r.err and "Traceback" not in r.err
    r = cli("landscape", "q", "--params", "w", "--runs-dir", runs_dir)
    assert r.code == 2 and "'w'" in r.err and "w1, w2, b" in r.err


IDLE_MODEL = ("import torch\n\nclass Idle(torch.nn.Module):\n    def __init__(self):\n"
              "        super().__init__()\n        self.w = torch.nn.Parameter(torch.tensor([[1.0]]))\n"
              "        self.idle = torch.nn.Parameter(torch.tensor([0.0]))\n"
              "        self.idle2 = torch.nn.Parameter(torch.tensor([0.0]))\n\n"
              "    def forward(self, x):\n        return x @ self.w\n")


def test_a_constant_surface_is_drawn_not_a_crash(cli, runs_dir, tmp_path):
    """Parameters the loss does not depend on: their line and plane are flat; the PNG is drawn
    (contourf would need two levels) and the CLI says the loss is the same everywhere."""
    from learnsys.lectures.figures import flat_value, save_landscape_png

    model_file = tmp_path / "idle.py"
    model_file.write_text(IDLE_MODEL)
    assert cli("train", "--model", f"{model_file}:Idle", "--epochs", "3", "--run-id", "idle", "--no-ui",
               "--quiet", "--runs-dir", runs_dir).code == 0
    for params, shape in ((["idle"], "line"), (["idle", "idle2"], "plane")):
        png = tmp_path / f"idle-{len(params)}.png"
        r = cli("landscape", "idle", "--params", *params, "--resolution", "5", "--png", png, "--runs-dir", runs_dir)
        assert r.code == 0 and "Traceback" not in r.err, r.err
        art = _artifact(runs_dir, "idle")
        flat = [v for row in art["losses"] for v in (row if isinstance(row, list) else [row])]
        assert len(flat) == 5 ** len(params) and len(set(flat)) == 1 and png.stat().st_size > 5000
        assert f"the loss is the same everywhere on this {shape}: {flat[0]:.6g}" in r.out
    flat = {"axes": [{"name": "u", "values": [0.0, 1.0]}, {"name": "v", "values": [0.0, 1.0]}],
            "losses": [[0.05, 0.05], [0.05, None]], "path": {"x": [0.0, 1.0], "y": [0.0, 1.0]}, "loss": "mse"}
    save_landscape_png(flat, tmp_path / "flat.png")                 # 2-D: "Filled contours require 2 levels" before
    assert (tmp_path / "flat.png").stat().st_size > 5000
    assert flat_value(flat["losses"]) == 0.05 and flat_value([[0.05, 0.06]]) is None and flat_value([None]) is None
