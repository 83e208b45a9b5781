"""The open core (issue 9): any data shape, dicts and tuples, a user's Dataset on the DataLoader
path, class labels, models with structured inputs and outputs, step functions, components
given as objects. Numbers are checked against plain PyTorch or against the other feeding path."""

from __future__ import annotations

import json
import sqlite3

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

import learnsys
from learnsys.errors import LearnsysError


class Pairs(Dataset):
    """A map-style Dataset of (x, y) pairs; `noise` adds torch-random augmentation per item."""

    def __init__(self, n: int = 96, noise: float = 0.0):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 3, generator=g)
        self.y = self.x @ torch.tensor([[1.0], [2.0], [-1.0]]) + 0.5
        self.noise = noise

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        x = self.x[i]
        if self.noise:
            x = x + self.noise * torch.randn(3)
        return x, self.y[i]


def _params(run):
    return {k: v.clone() for k, v in run.params().items()}


def _losses(run):
    return [v for _, name, v in run.history() if name == "train/loss"]


def test_a_dataset_on_the_loader_path_gives_the_memory_paths_floats(runs_dir):
    ds = Pairs()
    kw = dict(batch_size=16, epochs=3, lr=0.05, runs_dir=runs_dir)
    lazy = learnsys.fit("linear", ds, run_id="lazy", **kw)
    memory = learnsys.fit("linear", (ds.x, ds.y), run_id="memory", **kw)
    assert lazy.spec.feed == "loader" and memory.spec.feed == "memory"
    assert _losses(lazy) == _losses(memory) and len(_losses(lazy)) == 18
    for k, v in _params(lazy).items():
        assert torch.equal(v, _params(memory)[k]), k


def test_the_plain_dataloader_loop_in_learnsys_order_gives_the_same_floats(runs_dir):
    """A plain PyTorch loop over the same Dataset, batches in learnsys's per-epoch order."""
    from learnsys.data import epoch_order

    ds = Pairs()
    run = learnsys.fit("linear", ds, batch_size=32, epochs=2, lr=0.05, runs_dir=runs_dir, run_id="r")
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for epoch in range(2):
        order = epoch_order(len(ds), 0, epoch).tolist()
        for b in range(3):
            items = [ds[i] for i in order[b * 32:(b + 1) * 32]]
            xb, yb = torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])
            loss = nn.functional.mse_loss(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert torch.equal(run.params()["linear.weight"], model.weight.detach())


@pytest.mark.slow
def test_random_augmentation_is_the_same_with_1_or_2_workers_and_leaves_dropout_alone(runs_dir):
    """Workers load each batch with generators seeded by (seed, epoch, batch): the same numbers
    for any number of workers, and the training process's draws (dropout) are untouched."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.drop = nn.Linear(3, 1), nn.Dropout(0.2)

        def forward(self, x):
            return self.lin(self.drop(x))

    ds = Pairs(noise=0.1)
    runs = []
    for workers in (1, 2):
        torch.manual_seed(0)
        runs.append(learnsys.fit(Net(), ds, batch_size=16, epochs=2, runs_dir=runs_dir, workers=workers,
                                 run_id=f"w{workers}"))
    assert _losses(runs[0]) == _losses(runs[1])
    assert torch.equal(runs[0].params()["lin.weight"], runs[1].params()["lin.weight"])


def test_images_with_integer_labels_train_a_classifier_with_accuracy_and_a_confusion_matrix(runs_dir):
    class TinyCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.head = nn.Conv2d(1, 4, 3, padding=1), nn.Linear(4 * 4 * 4, 3)

        def forward(self, x):
            return self.head(nn.functional.max_pool2d(torch.relu(self.conv(x)), 2).flatten(1))

    g = torch.Generator().manual_seed(1)
    y = torch.randint(0, 3, (120,), generator=g)
    x = torch.randn(120, 1, 8, 8, generator=g) + y[:, None, None, None].float()   # (N, C, H, W)
    torch.manual_seed(0)
    run = learnsys.fit(TinyCNN(), (x, y), dev=0.25, batch_size=30, epochs=4, lr=0.1, runs_dir=runs_dir,
                       run_id="img")
    names = run.metrics()
    assert {"train/accuracy", "dev/accuracy", "dev/loss"} <= set(names)
    assert run.folder.meta()["n_classes"] == 3 and run.folder.meta()["item_shape"] == [1, 8, 8]
    con = sqlite3.connect(runs_dir / "learnsys.sqlite")
    art = json.loads(con.execute("SELECT data FROM artifacts WHERE run_id='img' AND name='evaluation'").fetchone()[0])
    confusion = torch.tensor(art["confusion"])
    assert confusion.shape == (3, 3) and int(confusion.sum()) == 30
    assert art["samples"]["shape"] == [1, 8, 8] and len(art["samples"]["pred"]) == 16
    assert abs(torch.trace(confusion).item() / 30 - names["dev/accuracy"][1][-1]) < 1e-6  # float32 mean
    assert art["classes"] is None                       # tensors name no classes: the view shows ids


class NamedClasses(Dataset):
    """A map-style Dataset that names its classes, as torchvision's sets do with `.classes`."""
    classes = ["cat", "dog", "owl"]

    def __init__(self):
        g = torch.Generator().manual_seed(2)
        self.y = torch.randint(0, 3, (60,), generator=g)
        self.x = torch.randn(60, 4, generator=g) + self.y[:, None].float()

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def _evaluation(runs_dir, run_id):
    con = sqlite3.connect(runs_dir / "learnsys.sqlite")
    try:
        return json.loads(con.execute("SELECT data FROM artifacts WHERE run_id=? AND name='evaluation'",
                                      (run_id,)).fetchone()[0])
    finally:
        con.close()


@pytest.mark.parametrize("data, feed, names", [
    ("iris", "auto", ["setosa", "versicolor", "virginica"]),      # a bundled set's class names
    (NamedClasses(), "loader", NamedClasses.classes),             # a Dataset's .classes, item by item
    (NamedClasses(), "memory", NamedClasses.classes),             # ... and collated into memory
])
def test_the_evaluation_names_the_classes_its_data_names(runs_dir, data, feed, names):
    run_id = f"named-{feed}-{isinstance(data, str)}"
    run = learnsys.fit("softmax", data, loss="cross-entropy", dev=0.25, epochs=1, feed=feed, runs_dir=runs_dir,
                       run_id=run_id, quiet=True)
    art = _evaluation(runs_dir, run_id)
    assert art["classes"] == names and len(art["confusion"]) == len(names)
    assert run.summary()["confusion"]["classes"] == names     # what `learnsys show` prints below the matrix


def test_a_dict_of_named_tensors_reaches_the_model_as_keyword_arguments(runs_dir):
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 1), nn.Linear(1, 1)

        def forward(self, a, b):
            return self.a(a) + self.b(b)

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(40, 2, generator=g), torch.randn(40, 1, generator=g)
    target = a.sum(1, keepdim=True) - b
    torch.manual_seed(0)
    run = learnsys.fit(TwoInputs(), {"a": a, "b": b, "target": target}, epochs=50, lr=0.1, runs_dir=runs_dir)
    torch.manual_seed(0)
    ref = TwoInputs()
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    for _ in range(50):
        loss = nn.functional.mse_loss(ref(a, b), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.equal(run.params()["a.weight"], ref.a.weight.detach())


@pytest.mark.parametrize("kind", ["tuple", "dict"])
def test_a_model_may_return_a_tuple_or_a_dict(runs_dir, kind):
    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 1)

        def forward(self, x):
            out = self.lin(x)
            return (out, out.detach() * 0) if kind == "tuple" else {"logits": out, "aux": out.detach()}

    ds = Pairs()
    torch.manual_seed(0)
    run = learnsys.fit(Wrapped(), (ds.x, ds.y), epochs=5, runs_dir=runs_dir, run_id="w")
    torch.manual_seed(0)
    plain = learnsys.fit("linear", (ds.x, ds.y), epochs=5, runs_dir=runs_dir, run_id="p")
    assert _losses(run) == _losses(plain)


def test_a_step_function_computes_the_loss_its_own_way(runs_dir):
    ds = Pairs()

    def step(model, batch):
        x, y = batch
        return nn.functional.l1_loss(model(x), y)

    run = learnsys.fit("linear", (ds.x, ds.y), step=step, epochs=5, lr=0.05, runs_dir=runs_dir, run_id="s")
    ref = learnsys.fit("linear", (ds.x, ds.y), loss="mae", epochs=5, lr=0.05, runs_dir=runs_dir, run_id="mae")
    assert _losses(run) == _losses(ref)
    assert run.spec.step == "<step>" and run.folder.meta()["origin"]["step"]["given"] == "object"
    with pytest.raises(LearnsysError, match="step"):
        learnsys.resume("s", runs_dir=runs_dir, changes={"epochs": 6})
    assert learnsys.resume("s", runs_dir=runs_dir, changes={"epochs": 6}, step=step).result.step == 6


def test_components_as_objects_and_lambda_lr(runs_dir):
    ds = Pairs()
    factory = lambda params: torch.optim.SGD(params, lr=0.05, momentum=0.5)  # noqa: E731
    schedule = lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.5 ** e)  # noqa: E731
    run = learnsys.fit("linear", (ds.x, ds.y), optimizer=factory, scheduler=schedule, loss=nn.SmoothL1Loss(),
                       epochs=3, runs_dir=runs_dir, run_id="objs")
    lrs = run.metrics()["lr"][1]
    assert lrs == [0.05, 0.025, 0.0125]
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = factory(model.parameters())
    sched = schedule(opt)
    for _ in range(3):
        loss = nn.SmoothL1Loss()(model(ds.x), ds.y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    assert torch.equal(run.params()["linear.weight"], model.weight.detach())
    # a torch class is a name the spec can rebuild: no object needed to resume
    named = learnsys.fit("linear", (ds.x, ds.y), optimizer=torch.optim.Adam, epochs=2, runs_dir=runs_dir, run_id="c")
    assert named.spec.optimizer == "Adam" and learnsys.resume("c", runs_dir=runs_dir, changes={"epochs": 3}).result.step == 3


def test_reduce_lr_on_plateau_steps_on_the_dev_loss_or_the_epoch_loss(runs_dir):
    ds = Pairs()
    for dev in (0.0, 0.25):
        run = learnsys.fit("linear", (ds.x, ds.y), optimizer="sgd", lr=1.9, scheduler="ReduceLROnPlateau",
                           scheduler_args={"patience": 0, "factor": 0.5}, guard="off", batch_size=24, epochs=6,
                           dev=dev, runs_dir=runs_dir, run_id=f"plateau{dev}")
        lrs = run.metrics()["lr"][1]
        assert run.result.status == "finished" and min(lrs) < 1.9, (dev, lrs)


def test_bad_data_inputs_are_one_line_each(runs_dir):
    class Shapes(Pairs):
        def __getitem__(self, i):
            return (torch.zeros(3 if i < 10 else 4), self.y[i])

    class Iter(torch.utils.data.IterableDataset):
        def __iter__(self):
            yield torch.zeros(3), torch.zeros(1)

    cases = [(Shapes(), {}, "change shape"), (Iter(), {}, "iterable dataset"),
             ((torch.randn(8, 3), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])), {"classes": 3}, "out of range for 3 classes"),
             ((torch.randn(8, 3), torch.rand(8)), {"loss": "cross-entropy"}, "needs class ids"),
             ((torch.randn(8, 3), torch.randn(8, 2)), {"model": "linear-nobias"}, None)]
    for data, fields, words in cases:
        model = fields.pop("model", "linear")
        if words is None:  # a model whose output does not fit the target: both shapes are named
            class One(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.lin = nn.Linear(3, 1)

                def forward(self, x):
                    return self.lin(x)
            with pytest.raises(LearnsysError, match=r"outputs shape \(1,\).*\(2,\)"):
                learnsys.fit(One(), data, runs_dir=runs_dir, **fields)
            continue
        with pytest.raises(LearnsysError, match=words):
            learnsys.fit(model, data, runs_dir=runs_dir, **fields)
    assert not runs_dir.exists() or not [p for p in runs_dir.iterdir() if p.is_dir()]


def test_a_step_function_that_returns_a_non_scalar_is_refused(runs_dir):
    ds = Pairs()
    with pytest.raises(LearnsysError, match="not a scalar loss"):
        learnsys.fit("linear", (ds.x, ds.y), step=lambda model, batch: model(batch[0]), runs_dir=runs_dir)


def test_cli_data_and_step_functions_from_files(cli, runs_dir, tmp_path):
    src = tmp_path / "mydata.py"
    src.write_text("import torch\n"
                   "def make(n=20):\n"
                   "    x = torch.arange(n, dtype=torch.float32)[:, None]\n"
                   "    return x, 3 * x + 1\n"
                   "def broken():\n"
                   "    return 'not data'\n"
                   "def step(model, batch):\n"
                   "    x, y = batch\n"
                   "    return torch.nn.functional.mse_loss(model(x / 20), y / 20)\n")
    r = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--data", f"{src}:make", "--data-args", "n=10",
            "--epochs", "3", "--run-id", "f")
    assert r.code == 0, r.err
    assert json.loads((runs_dir / "f" / "meta.json").read_text())["train_rows"] == 10
    r = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--data", f"{src}:make", "--step", f"{src}:step",
            "--epochs", "3", "--run-id", "st")
    assert r.code == 0, r.err
    for args, words in ((["--data", f"{src}:missing"], "has no 'missing'"),
                        (["--data", f"{src}:broken"], "is not usable"),
                        (["--data", f"{tmp_path / 'nope.py'}:make"], "does not exist"),
                        (["--data", f"{src}:make", "--step", f"{src}:nothing"], "has no 'nothing'")):
        r = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, *args)
        assert r.code == 2 and r.err.count("\n") == 1 and words in r.err, (args, r.err)


def test_predict_takes_tensors_of_any_shape_and_gives_class_ids_or_probabilities(cli, runs_dir, tmp_path):
    import numpy as np

    g = torch.Generator().manual_seed(2)
    y = torch.randint(0, 2, (40,), generator=g)
    x = torch.randn(40, 1, 4, 4, generator=g) + 2 * y[:, None, None, None].float()
    run = learnsys.fit("softmax", (x, y), epochs=30, lr=0.5, runs_dir=runs_dir, run_id="p")
    ids, proba = run.predict(x[:6]), run.predict(x[:6], proba=True)
    model = nn.Linear(16, 2)
    model.load_state_dict({k.removeprefix("linear."): v for k, v in run.params().items()})
    with torch.no_grad():
        logits = model(x[:6].flatten(1))
    assert ids.tolist() == logits.argmax(1).tolist() and torch.allclose(proba, torch.softmax(logits, 1))
    np.savez(tmp_path / "x.npz", x=x[:6].numpy())
    r = cli("predict", "p", "--runs-dir", runs_dir, "--input", tmp_path / "x.npz", "--json")
    assert r.code == 0 and json.loads(r.out)["predictions"] == ids.tolist(), r.err
    r = cli("predict", "p", "--runs-dir", runs_dir, "--input", tmp_path / "x.npz", "--proba", "--json")
    assert torch.allclose(torch.tensor(json.loads(r.out)["predictions"]), proba)
    r = cli("predict", "p", "--runs-dir", runs_dir, "--x", "1", "2", "3")
    assert r.code == 2 and "16 features" in r.err


def test_synthetic_images_are_image_shaped_class_data(cli, runs_dir):
    r = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--data", "synthetic-images", "--data-args",
            "size=120", "channels=3", "height=6", "width=5", "classes=4", "--model", "mlp:16", "--epochs", "3",
            "--run-id", "si")
    assert r.code == 0, r.err
    meta = json.loads((runs_dir / "si" / "meta.json").read_text())
    assert meta["item_shape"] == [3, 6, 5] and meta["n_classes"] == 4 and meta["loss"] == "cross-entropy"
    r = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--data", "synthetic-images", "--data-args",
            "depth=2")
    assert r.code == 2 and "Unknown data_args ['depth']" in r.err


def test_tensor_predictions_refuse_non_finite_inputs_and_take_large_finite_ones(runs_dir):
    """The finite check is one sum, then value by value only when the sum is not finite: a
    NaN, an inf, or +inf and -inf together are refused; values whose sum overflows are not."""
    from learnsys.errors import LearnsysError

    g = torch.Generator().manual_seed(3)
    x = torch.randn(30, 3, generator=g)
    run = learnsys.fit("linear", (x, x.sum(1, keepdim=True)), epochs=2, runs_dir=runs_dir, run_id="f")
    for bad in (float("nan"), float("inf"), -float("inf")):
        rows = x.clone()
        rows[7, 1] = bad
        with pytest.raises(LearnsysError, match="NaN or infinite"):
            run.predict(rows)
    both = x.clone()
    both[0, 0], both[1, 0] = float("inf"), -float("inf")   # their sum is NaN, not inf
    with pytest.raises(LearnsysError, match="NaN or infinite"):
        run.predict(both)
    huge = torch.full((4, 3), 3e38)                          # finite; their float32 sum overflows
    assert run.predict(huge).shape == (4, 1)


def test_loader_options_on_data_in_memory_say_they_do_nothing(cli, runs_dir):
    r = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--epochs", "3", "--workers", "2", "--pin-memory")
    assert r.code == 0, r.err
    warning = [line for line in r.err.splitlines() if "--workers 2 and --pin-memory have no effect" in line]
    assert len(warning) == 1 and "--feed loader" in warning[0]
    r = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--epochs", "3", "--workers", "1",
            "--feed", "loader")
    assert r.code == 0 and "no effect" not in r.err, r.err


def test_show_names_the_classes_below_the_confusion_matrix(cli, runs_dir):
    r = cli("train", "--data", "iris", "--model", "softmax", "--dev", "0.2", "--epochs", "2", "--run-id", "iris-show",
            "--no-ui", "--quiet", "--runs-dir", runs_dir)
    assert r.code == 0, r.err
    r = cli("show", "iris-show", "--runs-dir", runs_dir)
    assert "dev confusion matrix at step" in r.out and "classes: 0 setosa, 1 versicolor, 2 virginica" in r.out, r.out
