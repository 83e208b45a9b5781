"""The core loop against references: the lecture 5 listing (bitwise), plain PyTorch loops for
SGD and mini-batches (bitwise), closed-form least squares, and the recorded metrics."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch

import learnsys
from learnsys.data import epoch_order
from learnsys.store import RunStore

from .conftest import load_example


def lecture5_listing(seed: int, y_values: list[float]):
    """The listing of lecture 5, verbatim apart from the seed and the print in the loop."""
    torch.manual_seed(seed)
    x_data = torch.tensor([[1.0], [2.0], [3.0]])
    y_data = torch.tensor([[v] for v in y_values])

    class LinearModel(torch.nn.Module):
        def __init__(self):
            super(LinearModel, self).__init__()
            self.linear = torch.nn.Linear(1, 1)

        def forward(self, x):
            y_pred = self.linear(x)
            return y_pred

    model = LinearModel()
    criterion = torch.nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    losses = []
    for epoch in range(1000):
        y_pred = model(x_data)
        loss = criterion(y_pred, y_data)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    x_test = torch.Tensor([[4.0], [5.0]])
    y_test = model(x_test)
    return model.linear.weight.data, model.linear.bias.data, y_test.data, losses


def test_lecture5_example_twin_is_bitwise_equal_to_the_listing(tmp_path):
    lec5 = load_example("lec5_linear_regression")
    for seed in (0, 3):
        w, b, y_test, _ = lecture5_listing(seed, [1.98, 4.12, 5.95])
        twin = lec5.main(seed=seed, runs_dir=str(tmp_path / "runs"))
        assert torch.equal(twin["w"], w) and torch.equal(twin["b"], b)
        assert torch.equal(twin["y_test"], y_test)


def test_train_with_no_arguments_prints_the_lecture5_listings_numbers(cli, runs_dir):
    w, b, y_test, losses = lecture5_listing(0, [1.98, 4.12, 5.95])   # the listing after torch.manual_seed(0)
    result = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir)
    assert result.code == 0, result.err
    assert f"\nw = {w.item()!r}\n" in result.out           # the listing prints them as w and b
    assert f"\nb = {b.item()!r}\n" in result.out
    assert f"y_pred(x = 4.0) = {y_test[0, 0].item()!r}" in result.out
    assert f"y_pred(x = 5.0) = {y_test[1, 0].item()!r}" in result.out
    run_id = result.out.split()[1]
    steps, values = RunStore(runs_dir / "learnsys.sqlite").series(run_id, "train/loss")
    assert steps == list(range(1, 1001))
    assert values == losses  # every step's loss, as the listing computes it


def test_built_in_sets_are_named_by_the_listings_and_old_names_still_work(cli, runs_dir):
    from learnsys.data import load_data

    assert load_data("lecture").y[:, 0].tolist() == [2.0, 4.0, 6.0]                 # lectures 2-3
    assert torch.equal(load_data("lecture2").y, torch.tensor([[2.02], [3.98], [6.01]]))
    assert torch.equal(load_data("lecture4").y, load_data("lecture5").y)
    assert torch.equal(load_data("lecture5").y, torch.tensor([[1.98], [4.12], [5.95]]))
    new = cli("train", "--no-ui", "--quiet", "--epochs", "20", "--data", "lecture5", "--runs-dir", runs_dir)
    old = cli("train", "--no-ui", "--quiet", "--epochs", "20", "--data", "lecture-quadratic", "--runs-dir", runs_dir)
    assert old.code == 0 and new.err == ""
    assert old.err.strip().splitlines() == ["warning: data set 'lecture-quadratic' is now called 'lecture5' (the "
                                            "lecture listing that uses it); the old name still works for now."]
    assert old.out.splitlines()[1:] == new.out.splitlines()[1:]                     # the same numbers
    noisy = cli("search", "--data", "lecture-noisy", "--grid", "w=2", "--no-store")
    assert noisy.code == 0 and "'lecture2'" in noisy.err and "MSE = 0.000300" in noisy.out


def test_one_sample_sgd_matches_the_plain_per_sample_loop(runs_dir):
    run = learnsys.fit("linear", "lecture5", batch_size=1, shuffle=False, epochs=50, lr=0.01,
                       runs_dir=runs_dir)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.tensor([[1.0], [2.0], [3.0]])
    y = torch.tensor([[1.98], [4.12], [5.95]])
    for _ in range(50):
        for i in range(3):
            loss = torch.nn.functional.mse_loss(model(x[i:i + 1]), y[i:i + 1])
            opt.zero_grad()
            loss.backward()
            opt.step()
    params = run.params()
    assert torch.equal(params["linear.weight"], model[0].weight.data)
    assert torch.equal(params["linear.bias"], model[0].bias.data)


def test_mini_batches_follow_the_seeded_per_epoch_permutation(runs_dir):
    run = learnsys.fit("mlp:8", "synthetic-linear", data_args={"size": 100, "features": 3}, batch_size=16,
                       epochs=3, optimizer="adam", lr=0.01, seed=5, runs_dir=runs_dir)
    from learnsys.data import load_data
    from learnsys.models import build_model

    ds = load_data("synthetic-linear", data_args={"size": 100, "features": 3})
    torch.manual_seed(5)
    model = build_model("mlp:8", 3, 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for epoch in range(3):
        order = torch.randperm(100, generator=torch.Generator().manual_seed(5 * 1_000_003 + epoch))
        assert torch.equal(order, epoch_order(100, 5, epoch))
        for start in range(0, 100, 16):
            idx = order[start:start + 16]
            loss = torch.nn.functional.mse_loss(model(ds.x[idx]), ds.y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    params = run.params()
    for name, p in model.named_parameters():
        assert torch.equal(params[name], p.data), name
    steps, _ = run.metrics()["train/loss"]
    assert steps == list(range(1, 3 * 7 + 1))  # ceil(100 / 16) = 7 batches per epoch


def test_gradient_descent_reaches_the_closed_form_least_squares(runs_dir):
    run = learnsys.fit("linear", "synthetic-linear", data_args={"size": 200, "features": 2, "noise": 0.3},
                       lr=0.1, epochs=600, runs_dir=runs_dir)
    from learnsys.data import load_data

    ds = load_data("synthetic-linear", data_args={"size": 200, "features": 2, "noise": 0.3})
    a = np.hstack([ds.x.double().numpy(), np.ones((200, 1))])
    coef, *_ = np.linalg.lstsq(a, ds.y.double().numpy(), rcond=None)
    params = run.params()
    np.testing.assert_allclose(params["linear.weight"].double().numpy().ravel(), coef[:2, 0], atol=1e-5)
    np.testing.assert_allclose(params["linear.bias"].double().numpy(), coef[2], atol=1e-5)


def test_metrics_epoch_means_dev_loss_lr_and_parameter_paths(runs_dir):
    run = learnsys.fit("linear", "synthetic-linear", data_args={"size": 60}, dev=0.25, batch_size=10, epochs=4,
                       lr=0.05, scheduler="StepLR", scheduler_args={"step_size": 2, "gamma": 0.5}, runs_dir=runs_dir)
    m = run.metrics()
    steps, losses = m["train/loss"]
    assert steps == list(range(1, 21))  # 45 train rows / 10 -> 5 batches per epoch, 4 epochs
    e_steps, e_means = m["train/loss_epoch"]
    assert e_steps == [5, 10, 15, 20]
    for k, mean in enumerate(e_means):
        assert mean == pytest.approx(sum(losses[5 * k:5 * k + 5]) / 5, rel=1e-12)
    lrs = m["lr"][1]  # StepLR halves lr after every 2nd epoch (5 steps each); recorded per step
    assert lrs[:10] == [0.05] * 10 and lrs[10:] == [pytest.approx(0.025)] * 10
    assert m["dev/loss"][0] == [5, 10, 15, 20]
    params = run.params()
    assert m["param/w"][1][-1] == params["linear.weight"].item()
    assert m["param/b"][1][-1] == params["linear.bias"].item()
    # the dev loss at the end is the model's loss on the dev rows
    from learnsys.data import load_data, split

    _, dev = split(load_data("synthetic-linear", data_args={"size": 60}), 0.25, 0)
    pred = run.predict(dev.x)
    assert m["dev/loss"][1][-1] == pytest.approx(torch.nn.functional.mse_loss(pred, dev.y).item(), rel=1e-6)


def test_softmax_on_iris_learns_and_predicts_classes(runs_dir):
    run = learnsys.fit("softmax", "iris", dev=0.2, standardize=True, optimizer="adam", lr=0.05, epochs=150,
                       runs_dir=runs_dir)
    m = run.metrics()
    assert m["dev/accuracy"][1][-1] >= 0.85
    assert "param/linear.weight[2,3]" in m and "param/linear.bias[2]" in m  # 4*3 + 3 = 15 <= 16 scalars
    preds = run.predict([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
    assert preds.tolist() == [0, 2]                                      # class ids (N,)
    proba = run.predict([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], proba=True)
    assert proba.shape == (2, 3) and torch.allclose(proba.sum(1), torch.ones(2)) and proba.argmax(1).tolist() == [0, 2]


def test_standardiser_is_fitted_on_train_rows_and_applied_by_predict(runs_dir):
    run = learnsys.fit("linear", "diabetes", dev=0.2, standardize=True, lr=0.1, epochs=200, runs_dir=runs_dir)
    meta = run.folder.meta()
    from learnsys.data import load_data, split

    train, dev = split(load_data("diabetes"), 0.2, 0)
    assert meta["scaler"]["mean"] == pytest.approx(train.x.double().mean(0).tolist())
    model = torch.nn.Linear(10, 1)
    params = run.params()
    model.weight.data, model.bias.data = params["linear.weight"], params["linear.bias"]
    mean, std = torch.tensor(meta["scaler"]["mean"]), torch.tensor(meta["scaler"]["std"])
    expected = model((dev.x[:3] - mean.float()) / std.float())
    assert torch.allclose(run.predict(dev.x[:3]), expected, atol=1e-4)


def test_user_module_from_a_file_with_keyword_arguments(runs_dir, tmp_path, cli):
    path = tmp_path / "my_model.py"
    path.write_text("import torch\n\nclass Net(torch.nn.Module):\n    def __init__(self, hidden=4):\n"
                    "        super().__init__()\n        self.a = torch.nn.Linear(1, hidden)\n"
                    "        self.b = torch.nn.Linear(hidden, 1)\n\n"
                    "    def forward(self, x):\n        return self.b(torch.tanh(self.a(x)))\n")
    result = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--model", f"{path}:Net",
                 "--model-args", "hidden=3", "--epochs", "20")
    assert result.code == 0, result.err
    run = learnsys.load_run(result.out.split()[1], runs_dir=runs_dir)
    assert run.params()["a.weight"].shape == (3, 1)


def test_toml_config_and_flags_become_one_saved_spec(tmp_path, runs_dir, cli):
    config = tmp_path / "run.toml"
    config.write_text('model = "poly:2"\ndata = "lecture5"\nlr = 0.02\nepochs = 30\n'
                      'batch_size = 1\n[init]\nw1 = 1.0\nw2 = 1.0\nb = 1.0\n')
    result = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--config", config, "--epochs", "40")
    assert result.code == 0, result.err
    run = learnsys.load_run(result.out.split()[1], runs_dir=runs_dir)
    spec = run.spec
    assert (spec.model, spec.lr, spec.epochs, spec.batch_size, spec.init) == ("poly:2", 0.02, 40, 1,
                                                                                {"w1": 1.0, "w2": 1.0, "b": 1.0})
    assert run.metrics()["param/w1"][1][0] != 1.0 and len(run.metrics()["param/w1"][0]) == 120


def test_fit_on_arrays_and_load_run_predicts(runs_dir):
    x = np.linspace(-1, 1, 50)
    y = 3 * x - 1
    run = learnsys.fit("linear", (x, y), lr=0.3, epochs=300, runs_dir=runs_dir)
    again = learnsys.load_run(run.run_id, runs_dir=runs_dir)
    assert torch.allclose(again.predict([[0.5]]), torch.tensor([[0.5]]), atol=1e-4)
    resumed_spec = learnsys.load_run(run.folder.path).spec
    assert resumed_spec.data == "<arrays>"
    assert (run.folder.path / "data.pt").exists()


def test_divergence_guard_rolls_back_and_lowers_lr(runs_dir):
    run = learnsys.fit("linear", "lecture", lr=0.3, epochs=400, checkpoint_every=25, runs_dir=runs_dir)
    store = RunStore(runs_dir / "learnsys.sqlite")
    kinds = [e["kind"] for e in store.events(run.run_id)]
    assert "divergence" in kinds
    _, lrs = run.metrics()["lr"]
    assert lrs[0] == 0.3 and lrs[-1] < 0.3
    assert math.isfinite(run.metrics()["train/loss"][1][-1])
    assert run.metrics()["train/loss"][1][-1] < 1e-3
    off = learnsys.fit("linear", "lecture", lr=0.3, epochs=400, guard="off", runs_dir=runs_dir)
    assert not math.isfinite(off.metrics()["train/loss"][1][-1]) or off.metrics()["train/loss"][1][-1] > 1e6


def test_steps_overrides_epochs_and_show_json_lists_exact_params(runs_dir, cli):
    result = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--steps", "7", "--batch-size", "2")
    assert result.code == 0, result.err
    run_id = result.out.split()[1]
    import json

    shown = json.loads(cli("show", run_id, "--json", "--runs-dir", runs_dir).out)
    assert shown["step"] == 7 and shown["status"] == "finished"
    params = learnsys.load_run(run_id, runs_dir=runs_dir).params()
    assert shown["params"]["linear.weight"] == params["linear.weight"].tolist()
    listed = json.loads(cli("runs", "--json", "--runs-dir", runs_dir).out)
    assert [r["id"] for r in listed] == [run_id] and listed[0]["step"] == 7
    predicted = json.loads(cli("predict", run_id, "--x", "4", "5", "--json", "--runs-dir", runs_dir).out)
    assert predicted["predictions"] == learnsys.load_run(run_id, runs_dir=runs_dir).predict([[4.0], [5.0]]).tolist()
    csv = cli("metrics", run_id, "--csv", "--runs-dir", runs_dir).out.splitlines()
    # loss, lr, w, b and their gradients per step, plus epoch means at steps 2, 4, 6 (2 batches per epoch)
    assert csv[0] == "step,name,value" and len(csv) == 1 + 7 * 6 + 3


def test_tensorboard_sink_writes_the_same_losses(cli, runs_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--epochs", "30",
                 "--tensorboard", tmp_path / "tb")
    assert result.code == 0, result.err
    run_id = result.out.split()[1]
    events = EventAccumulator(str(tmp_path / "tb" / run_id))
    events.Reload()
    scalars = events.Scalars("train/loss")
    steps, values = learnsys.load_run(run_id, runs_dir=runs_dir).metrics()["train/loss"]
    assert [s.step for s in scalars] == steps
    assert [s.value for s in scalars] == pytest.approx(values, rel=1e-6)


def test_predict_from_a_csv_uses_the_feature_columns_by_name(cli, runs_dir, tmp_path):
    import json

    data = tmp_path / "train.csv"
    data.write_text("a,b,y\n1,2,5\n2,1,4\n3,3,9\n0,1,2\n")
    result = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--data", data, "--epochs", "20")
    assert result.code == 0, result.err
    run_id = result.out.split()[1]
    inputs = tmp_path / "in.csv"
    inputs.write_text("b,extra,a\n0.1,7,2.3\n")  # other order, an extra column: taken by name
    out = json.loads(cli("predict", run_id, "--input", inputs, "--json", "--runs-dir", runs_dir).out)
    assert out["inputs"] == [[2.3, 0.1]]  # the run's order (a, b), values exactly as written
    expected = learnsys.load_run(run_id, runs_dir=runs_dir).predict([[2.3, 0.1]]).tolist()
    assert out["predictions"] == expected
    inputs.write_text("a,c\n1,2\n")
    line = cli("predict", run_id, "--input", inputs, "--runs-dir", runs_dir).err.strip()
    assert line == f"error: Input file {inputs} lacks feature column(s) b; it has a, c."


def test_runs_table_never_cuts_the_run_id(runs_dir):
    import os
    import subprocess
    import sys

    run = learnsys.fit("linear", "lecture", epochs=2, runs_dir=runs_dir)
    out = subprocess.run([sys.executable, "-m", "learnsys", "runs", "--runs-dir", str(runs_dir)], capture_output=True,
                         text=True, env={**os.environ, "COLUMNS": "60"}, timeout=60).stdout
    assert run.run_id in out  # whole, even in a narrow terminal: the other verbs take it


def test_the_dev_split_names_its_rows_in_meta_and_show(cli, runs_dir, tmp_path):
    from learnsys.data import load_data, split

    csv = tmp_path / "d.csv"
    csv.write_text("x,y\n" + "".join(f"{i},{2 * i + 1}\n" for i in range(10)))
    r = cli("train", "--data", csv, "--dev", "0.3", "--seed", "4", "--epochs", "2", "--run-id", "d", "--no-ui",
            "--quiet", "--runs-dir", runs_dir)
    assert r.code == 0, r.err
    run = learnsys.load_run("d", runs_dir=runs_dir)
    rows = run.folder.meta()["dev_indices"]
    _, dev = split(load_data(str(csv)), 0.3, 4)
    assert len(rows) == 3 and rows == sorted(rows)
    assert dev.x[:, 0].tolist() == [float(i) for i in rows]        # row i of this file has x = i
    shown = cli("show", "d", "--runs-dir", runs_dir)
    line = next(l for l in shown.out.splitlines() if l.startswith("dev_indices: "))
    assert line.startswith(f"dev_indices: {', '.join(map(str, rows))} (3 of the data set's 10 rows, 0-based")
    assert json.loads(cli("show", "d", "--json", "--runs-dir", runs_dir).out)["dev_indices"] == rows
    assert "dev_indices" not in cli("show", "d", "--runs-dir", runs_dir).out.replace(line, "")
    no_dev = cli("train", "--epochs", "1", "--run-id", "n", "--no-ui", "--quiet", "--runs-dir", runs_dir)
    assert no_dev.code == 0 and "dev_indices" not in cli("show", "n", "--runs-dir", runs_dir).out


def test_show_writes_small_models_out_and_summarises_large_ones(cli, runs_dir):
    assert cli("train", "--epochs", "3", "--run-id", "small", "--no-ui", "--quiet", "--runs-dir", runs_dir).code == 0
    shown = cli("show", "small", "--runs-dir", runs_dir).out.splitlines()
    params = learnsys.load_run("small", runs_dir=runs_dir).params()
    i = shown.index("params:")
    assert shown[i + 1:i + 3] == [f"  {k} = {v.tolist()!r}" for k, v in params.items()]   # exact, as lecture 5 prints
    assert cli("train", "--model", "mlp:16", "--data", "synthetic-linear", "--data-args", "features=8", "--epochs", "1",
               "--run-id", "big", "--no-ui", "--quiet", "--runs-dir", runs_dir).code == 0
    shown = cli("show", "big", "--runs-dir", runs_dir).out.splitlines()
    i = next(i for i, l in enumerate(shown) if l.startswith("spec ("))  # what the run is, and what is not a default
    assert str(runs_dir / "big" / "spec.toml") in shown[i]
    fields = dict(l.strip().split(" = ", 1) for l in itertools.takewhile(lambda l: l.startswith("  "), shown[i + 1:]))
    assert fields == {"data": '"synthetic-linear"', "data_args": '{"features": 8}', "feed": '"memory"',
                      "model": '"mlp:16"', "loss": '"auto"', "optimizer": '"sgd"', "lr": "0.01", "epochs": "1",
                      "batch_size": '"full"'}
    line = next(l for l in shown if l.startswith("params:"))
    n = sum(v.numel() for v in learnsys.load_run("big", runs_dir=runs_dir).params().values())
    assert line.startswith(f"params: {n:,} values in 4 tensors (") and "16×" in line and "--json" in line


@pytest.mark.parametrize("columns", [80, 200])
def test_runs_never_cuts_the_id_losses_or_status(cli, runs_dir, monkeypatch, columns):
    assert cli("train", "--epochs", "3", "--no-ui", "--quiet", "--runs-dir", runs_dir).code == 0  # a generated id
    assert cli("train", "--data", "iris", "--model", "softmax", "--dev", "0.2", "--epochs", "2", "--run-id", "iris",
               "--no-ui", "--quiet", "--runs-dir", runs_dir).code == 0
    monkeypatch.setenv("COLUMNS", str(columns))
    lines = cli("runs", "--runs-dir", runs_dir).out.splitlines()
    assert all(len(line.rstrip()) <= columns for line in lines), lines
    for r in json.loads(cli("runs", "--runs-dir", runs_dir, "--json").out):
        row = next(line for line in lines if line.startswith(r["id"] + " "))
        assert row.rstrip().endswith(r["status"]) and f" {r['step']} " in row, row
        assert f" {r['train_loss']:.4g} " in row and (r["dev_loss"] is None or f" {r['dev_loss']:.4g} " in row), row
    assert "kind" not in lines[0] + lines[1]  # every run is a train run
    wide = columns >= 100  # everything whole, one header line
    assert ("train loss" in lines[0] and "lecture5" in "".join(lines) and "…" not in "".join(lines)) == wide, lines
