"""One contract suite that every built-in model and a set of optimisers pass (the
scikit-learn estimator-checks idea), plus the spec, data and store building blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import learnsys
from learnsys.data import Standardizer, epoch_order, load_data, split
from learnsys.errors import SpecError
from learnsys.models import MAX_SCALARS, apply_init, build_model, scalar_names
from learnsys.spec import RunSpec
from learnsys.store import RunStore, StoreWriter

MODELS = [("linear-nobias", "synthetic-linear"), ("linear", "synthetic-linear"), ("poly:3", "lecture5"),
          ("mlp:8,8", "synthetic-linear"), ("logistic", "breast_cancer"), ("softmax", "iris"),
          ("mlp:16", "synthetic-classes")]
OPTIMIZERS = ["sgd", "adam", "adamw", "rmsprop", "adagrad", "nadam"]


@pytest.mark.parametrize("model,data", MODELS)
def test_every_builtin_model_trains_records_and_predicts(model, data, runs_dir):
    run = learnsys.fit(model, data, epochs=3, batch_size=32, lr=0.01, standardize=True, dev=0.2,
                       runs_dir=runs_dir)
    m = run.metrics()
    losses = m["train/loss"][1]
    assert losses and all(math.isfinite(v) for v in losses)
    assert m["dev/loss"][0]  # evaluated each epoch
    meta = run.folder.meta()
    if meta["n_classes"]:
        assert "dev/accuracy" in m
    params = run.params()
    n_scalars = sum(p.numel() for p in params.values())
    assert bool(meta["scalar_names"]) == (n_scalars <= MAX_SCALARS)
    ds = load_data(data)
    pred = run.predict(ds.x[:3])
    assert pred.shape[0] == 3 and torch.isfinite(pred).all()
    # the same checkpoint loaded into a freshly built model gives the same predictions
    again = learnsys.load_run(run.run_id, runs_dir=runs_dir).predict(ds.x[:3])
    assert torch.equal(pred, again)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_decreases_the_lecture_loss(optimizer, runs_dir):
    run = learnsys.fit("linear", "lecture", optimizer=optimizer, lr=0.05, epochs=200, runs_dir=runs_dir)
    losses = run.metrics()["train/loss"][1]
    assert losses[-1] < losses[0] * 0.5


def test_optimizer_args_reach_the_optimizer(runs_dir):
    run = learnsys.fit("linear", "lecture", optimizer="sgd", optimizer_args={"momentum": 0.9}, epochs=5,
                       runs_dir=runs_dir)
    from learnsys.train.checkpoint import Checkpointer

    found, _ = Checkpointer(run.folder.checkpoints).latest()
    assert found.state["optimizer"]["param_groups"][0]["momentum"] == 0.9


def test_scalar_names_and_init_name_the_parameters_like_the_lectures():
    torch.manual_seed(0)
    assert scalar_names(build_model("linear-nobias", 1, 1)) == ["w"]
    assert scalar_names(build_model("linear", 1, 1)) == ["w", "b"]   # lecture 5 prints them as w and b
    poly = build_model("poly:2", 1, 1)
    assert scalar_names(poly) == ["w1", "w2", "b"]
    apply_init(poly, {"w1": 1, "w2": 1, "b": 1})
    x = torch.tensor([[3.0]])
    assert poly(x).item() == 1.0 * 3 * 3 + 1.0 * 3 + 1.0
    assert scalar_names(build_model("linear", 2, 2)) == ["linear.weight[0,0]", "linear.weight[0,1]",
                                                         "linear.weight[1,0]", "linear.weight[1,1]",
                                                         "linear.bias[0]", "linear.bias[1]"]
    assert scalar_names(build_model("mlp:64", 4, 1)) == []


def test_spec_round_trips_through_toml_and_lists_every_problem(tmp_path):
    spec = RunSpec.from_dict({"model": "poly:2", "lr": 0.5, "batch_size": 4, "init": {"w1": 1.0},
                              "optimizer_args": {"betas": [0.8, 0.9]}})
    spec.save(tmp_path / "spec.toml")
    assert RunSpec.load(tmp_path / "spec.toml") == spec
    with pytest.raises(SpecError) as e:
        RunSpec.from_dict({"lr": -1.0, "epochs": 0, "guard": "maybe"})
    message = e.value.args[0]
    assert "lr = -1.0" in message and "epochs = 0" in message and "guard = 'maybe'" in message
    assert "\n" not in message


def test_csv_targets_and_npz_loading(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,t1,t2\n1,2,3,4\n5,6,7,8\n")
    ds = load_data(str(csv), target=["t1", "t2"])
    assert ds.feature_names == ["a", "b"] and ds.target_names == ["t1", "t2"]
    assert ds.x.tolist() == [[1, 2], [5, 6]] and ds.y.tolist() == [[3, 4], [7, 8]]
    npz = tmp_path / "d.npz"
    np.savez(npz, x=np.arange(6.0).reshape(3, 2), y=np.arange(3.0))
    ds = load_data(str(npz))
    assert ds.x.shape == (3, 2) and ds.y.shape == (3, 1)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 200), dev=st.floats(0.05, 0.9), seed=st.integers(0, 10_000))
def test_split_is_a_seeded_partition(n, dev, seed):
    ds = load_data("synthetic-linear", data_args={"size": n})
    try:
        train, dev_part = split(ds, dev, seed)
    except learnsys.LearnsysError:
        assert round(n * dev) >= n or n * dev < 0.5 and n <= 1
        return
    rows = {tuple(r) for r in torch.cat([train.x, dev_part.x]).tolist()}
    assert len(rows) == n == train.n_rows + dev_part.n_rows
    again, _ = split(ds, dev, seed)
    assert torch.equal(again.x, train.x)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 500), seed=st.integers(0, 2**31), epoch=st.integers(0, 10_000))
def test_epoch_order_is_a_pure_function_of_seed_and_epoch(n, seed, epoch):
    order = epoch_order(n, seed, epoch)
    assert sorted(order.tolist()) == list(range(n))
    assert torch.equal(order, epoch_order(n, seed, epoch))


def test_standardizer_uses_train_statistics_only():
    x = torch.tensor([[1.0, 5.0], [3.0, 5.0]])
    s = Standardizer.fit(x)
    assert s.mean == [2.0, 5.0] and s.std == [1.0, 1.0]  # a constant column keeps std 1
    assert s(torch.tensor([[3.0, 6.0]])).tolist() == [[1.0, 1.0]]
    assert Standardizer.from_state_dict(s.state_dict()) == s


def test_store_writer_batches_and_flush_is_a_barrier(tmp_path):
    path = tmp_path / "s.sqlite"
    store = RunStore(path)
    store.create_run("r1", kind="train", spec={})
    writer = StoreWriter(path)
    for step in range(1, 1001):
        writer.put_metrics("r1", [("train/loss", step, 1.0 / step), ("lr", step, 0.1)])
    writer.put_metrics("r1", [("train/loss", 1001, math.nan)])
    writer.flush()
    steps, values = store.series("r1", "train/loss")
    assert steps == list(range(1, 1002)) and values[:2] == [1.0, 0.5] and math.isnan(values[-1])
    assert store.truncate_after("r1", 500) == 501 + 500
    assert store.series("r1", "lr")[0][-1] == 500
    ids = [row[0] for row in store.metric_rows("r1")]
    writer.put_metrics("r1", [("lr", 501, 0.1)])
    writer.close()
    assert store.metric_rows("r1")[-1][0] > max(ids)  # ids are never reused after a truncation


def test_a_user_optimizer_and_a_package_module_model(tmp_path, runs_dir, monkeypatch):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text("import torch\n\nclass Tiny(torch.nn.Module):\n    def __init__(self):\n"
                                 "        super().__init__()\n        self.l = torch.nn.Linear(1, 1)\n\n"
                                 "    def forward(self, x):\n        return self.l(x)\n")
    (tmp_path / "opt.py").write_text(
        "import torch\n\nclass PlainSGD(torch.optim.Optimizer):\n"
        "    def __init__(self, params, lr=0.01):\n        super().__init__(params, {'lr': lr})\n\n"
        "    @torch.no_grad()\n    def step(self, closure=None):\n"
        "        for g in self.param_groups:\n            for p in g['params']:\n"
        "                p.copy_(p - g['lr'] * p.grad)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    run = learnsys.fit("mypkg.nets:Tiny", "lecture", optimizer=f"{tmp_path / 'opt.py'}:PlainSGD", lr=0.05,
                       epochs=200, runs_dir=runs_dir)
    assert run.metrics()["train/loss"][1][-1] < 1e-2
    from learnsys.errors import SpecError

    with pytest.raises(SpecError, match="is not a torch.optim.Optimizer subclass"):
        learnsys.fit("linear", "lecture", optimizer="collections:OrderedDict", runs_dir=runs_dir)


def test_checkpoint_seconds_thins_scheduled_checkpoints_only(runs_dir):
    from learnsys.store import RunStore

    def checkpoint_steps(**kw):
        run = learnsys.fit("linear", "lecture", steps=50, checkpoint_every=10, keep_checkpoints=10,
                           runs_dir=runs_dir, **kw)
        events = RunStore(runs_dir / "learnsys.sqlite").events(run.run_id)
        return [e["step"] for e in events if e["kind"] == "checkpoint"], run

    every, run_a = checkpoint_steps(checkpoint_seconds=0)
    thinned, run_b = checkpoint_steps(checkpoint_seconds=3600)
    assert every == [10, 20, 30, 40, 50]
    assert thinned == [50]  # only the final one; the numbers are the same either way
    assert all(torch.equal(a, b) for a, b in zip(run_a.params().values(), run_b.params().values()))
