"""The plain-PyTorch listings of lectures 6-9 (examples/lec6..lec9) against references: the
same gradient descent written out by hand in float64 NumPy (the closed-form gradients of the
sigmoid and the binary cross-entropy), the same batches replayed, the softmax and NLL by hand,
and the bridges a learnsys twin needs (the same data, the same initial weights).

Tolerances: the listings compute in float32 and the references in float64; after 100-1800
SGD steps the two agree to ~1e-6 relative, so weights are compared to 1e-5 (absolute and
relative) and per-epoch losses to 1e-5; anything else (a wrong lr, reduction, order, epoch
count or layer) is off by far more."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from learnsys.data import load_data
from learnsys.datasets import bundled_path, load_bundled
from learnsys.models import build_model

from .conftest import load_example

TOL = dict(rtol=1e-5, atol=1e-5)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These models are tiny: on a shared 2-core machine two intra-op threads make a step ~20x
    slower than one (they wait for each other). The numbers are checked to tolerances, not bits,
    against float64 references, so the thread count does not matter to them."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def bce(p, y):
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


# -- lecture 6 ---------------------------------------------------------------------------

def test_lec6_is_gradient_descent_on_the_summed_cross_entropy(capsys):
    out = load_example("lec6_logistic_regression").main(seed=0)
    x, y = np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 1.0])
    w, b = out["w0"], out["b0"]
    losses = []
    for _ in range(1000):
        p = sigmoid(w * x + b)
        losses.append(bce(p, y).sum())
        w, b = w - 0.01 * ((p - y) * x).sum(), b - 0.01 * (p - y).sum()   # dL/dz = p - y, summed
    assert np.allclose(out["losses"], losses, **TOL)
    assert np.isclose(out["w"].item(), w, **TOL) and np.isclose(out["b"].item(), b, **TOL)
    assert np.allclose(out["p_pass"], sigmoid(out["w"].item() * out["hours"] + out["b"].item()), atol=1e-6)
    assert out["pass_hours"] == pytest.approx(-b / w, rel=1e-5) and 2.0 < out["pass_hours"] < 3.0
    assert f"w =  {out['w'].item()}" in capsys.readouterr().out


def test_lec6_draws_the_probability_curve(tmp_path):
    out = load_example("lec6_logistic_regression").main(seed=1, epochs=5, png=str(tmp_path / "lec6.png"))
    assert (tmp_path / "lec6.png").stat().st_size > 5000 and len(out["losses"]) == 5


# -- lectures 7 and 8: 8 -> 6 -> 4 -> 1 with sigmoids, mean BCE -------------------------

def _params(state: dict) -> list[np.ndarray]:
    return [state[f"linear{i}.{k}"].double().numpy().copy() for i in (1, 2, 3) for k in ("weight", "bias")]


def _sgd_step(params: list[np.ndarray], x: np.ndarray, y: np.ndarray, lr: float) -> float:
    """One step of the 3-layer sigmoid net on a batch, backprop written out; returns the loss."""
    w1, b1, w2, b2, w3, b3 = params
    a1 = sigmoid(x @ w1.T + b1)                  # (B, 8) @ (8, 6)
    a2 = sigmoid(a1 @ w2.T + b2)                 # (B, 6) @ (6, 4)
    p = sigmoid(a2 @ w3.T + b3)                  # (B, 4) @ (4, 1)
    dz3 = (p - y) / len(y)                       # d(mean BCE)/dz through the last sigmoid
    dz2 = (dz3 @ w3) * a2 * (1 - a2)
    dz1 = (dz2 @ w2) * a1 * (1 - a1)
    grads = [dz1.T @ x, dz1.sum(0), dz2.T @ a1, dz2.sum(0), dz3.T @ a2, dz3.sum(0)]
    for p_, g in zip(params, grads):
        p_ -= lr * g
    return float(bce(p, y).mean())


def _bundled_8() -> tuple[np.ndarray, np.ndarray]:
    """The listings' float32 data, widened: x (569, 8), y (569, 1)."""
    xy = np.loadtxt(bundled_path("breast_cancer8"), delimiter=",", dtype=np.float32)
    return xy[:, :-1].astype(np.float64), xy[:, [-1]].astype(np.float64)


def test_lec7_is_full_batch_gradient_descent_with_backprop_by_hand():
    out = load_example("lec7_multiple_features").main(seed=0, epochs=100)
    x, y = _bundled_8()
    params = _params(out["initial"])
    losses = [_sgd_step(params, x, y, 0.1) for _ in range(100)]
    assert np.allclose(out["losses"], losses, **TOL)
    for ours, ref in zip(_params(out["state"]), params):
        assert np.allclose(ours, ref, **TOL)
    assert out["losses"][-1] < out["losses"][0] and out["accuracy"] >= 0.6   # the course's 100 epochs: slow start


def test_lec7_reads_the_data_learnsys_serves_as_breast_cancer8():
    lec7 = load_example("lec7_multiple_features")
    ds = load_data("breast_cancer8")
    assert torch.equal(lec7.x_data, ds.x)                    # a twin trains on these floats
    assert torch.equal(lec7.y_data[:, 0].long(), ds.y)       # and these labels (learnsys keeps class ids)


def _recorded(module, monkeypatch) -> list[int]:
    """Every index the DataLoader asks the listing's Dataset for, in order (workers=0: in this process)."""
    asked: list[int] = []
    get = module.DiabetesDataset.__getitem__
    monkeypatch.setattr(module.DiabetesDataset, "__getitem__", lambda self, i: (asked.append(int(i)), get(self, i))[1])
    return asked


def test_lec8_batches_are_32_of_a_new_permutation_each_epoch_and_replay_by_hand(monkeypatch):
    lec8 = load_example("lec8_dataset_dataloader")
    asked = _recorded(lec8, monkeypatch)
    epochs = 30
    out = lec8.main(seed=0, epochs=epochs, workers=0)
    assert len(asked) == epochs * 569
    orders = [asked[e * 569:(e + 1) * 569] for e in range(epochs)]
    assert all(sorted(o) == list(range(569)) for o in orders)
    assert len({tuple(o) for o in orders}) == epochs          # shuffled anew every epoch
    x, y = _bundled_8()
    params = _params(out["initial"])
    epoch_losses = []
    for order in orders:
        batches = [order[i:i + 32] for i in range(0, 569, 32)]
        assert [len(b) for b in batches] == [32] * 17 + [25]
        total = sum(_sgd_step(params, x[b], y[b], 0.01) * len(b) for b in batches)
        epoch_losses.append(total / 569)
    assert np.allclose(out["epoch_losses"], epoch_losses, **TOL)
    for ours, ref in zip(_params(out["state"]), params):
        assert np.allclose(ours, ref, **TOL)


def test_lec8_seed_fixes_the_order(monkeypatch):
    lec8 = load_example("lec8_dataset_dataloader")
    asked = _recorded(lec8, monkeypatch)
    runs = []
    for seed in (3, 3, 4):
        asked.clear()
        out = lec8.main(seed=seed, epochs=2, workers=0)
        runs.append((list(asked), out["state"]))
    assert runs[0][0] == runs[1][0] and all(torch.equal(runs[0][1][k], runs[1][1][k]) for k in runs[0][1])
    assert runs[0][0] != runs[2][0]


@pytest.mark.slow
def test_lec8_two_workers_give_bitwise_the_same_weights_as_none():
    lec8 = load_example("lec8_dataset_dataloader")
    alone, workers = lec8.main(seed=0, epochs=3, workers=0), lec8.main(seed=0, epochs=3, workers=2)
    assert all(torch.equal(alone["state"][k], workers["state"][k]) for k in alone["state"])
    assert alone["epoch_losses"] == workers["epoch_losses"]


# -- lecture 9: softmax classifier on digits --------------------------------------------

@pytest.fixture(scope="module")
def lec9(one_thread):
    module = load_example("lec9_softmax_classifier")
    return module, module.main(seed=0, epochs=10)


def test_lec9_data_is_the_bundled_digits_as_normalised_images(lec9):
    module, _ = lec9
    s = load_bundled("digits")
    train_pixels = s.x[:1437] / 16.0
    assert (module.MEAN, module.STD) == (round(train_pixels.mean(), 4), round(train_pixels.std(), 4))
    for ds, rows in ((module.train_dataset, slice(0, 1437)), (module.test_dataset, slice(1437, 1797))):
        assert ds.images.shape == (len(s.y[rows]), 1, 8, 8) and ds.images.dtype == torch.float32
        assert np.array_equal(ds.labels.numpy(), s.y[rows])
        back = (ds.images.double().numpy() * module.STD + module.MEAN) * 16.0
        assert np.allclose(back.reshape(-1, 64), s.x[rows], atol=1e-5)


def test_lec9_both_models_learn_and_report_their_test_accuracy(lec9):
    module, out = lec9
    x, labels = module.test_dataset.images, module.test_dataset.labels.numpy()
    for name, floor in (("mlp", 0.8), ("cnn", 0.85)):
        r = out[name]
        assert len(r["losses"]) == len(r["accuracy"]) == 10 and r["losses"][-1] < r["losses"][0] / 5
        with torch.no_grad():
            scores = r["model"](x).double().numpy()                                  # (360, 10)
        assert r["accuracy"][-1] == (scores.argmax(1) == labels).mean() >= floor, (name, r["accuracy"])
        # CrossEntropyLoss is log-softmax and the negative log-likelihood, by hand in float64
        log_softmax = scores - scores.max(1, keepdims=True)
        log_softmax -= np.log(np.exp(log_softmax).sum(1, keepdims=True))
        with torch.no_grad():
            ce = torch.nn.CrossEntropyLoss()(r["model"](x), module.test_dataset.labels).item()
        assert ce == pytest.approx(-log_softmax[np.arange(len(labels)), labels].mean(), rel=1e-5)


@pytest.mark.parametrize("listing, builtin, kwargs", [("Net", "mlp:256,128,64,32", {}),
                                                      ("CNN", "cnn:16,32", {"item_shape": (1, 8, 8)})])
def test_lec9_models_are_learnsys_builtins_layer_for_layer(lec9, listing, builtin, kwargs):
    """A learnsys twin builds `mlp:256,128,64,32` / `cnn:16,32` after the same seed: the same
    initial weights and bitwise the same scores."""
    module, _ = lec9
    for seed in (0, 5):
        torch.manual_seed(seed)
        ours = getattr(module, listing)()
        torch.manual_seed(seed)
        theirs = build_model(builtin, 64, 10, **kwargs)
        assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters()))
        images = module.test_dataset.images                                     # (360, 1, 8, 8)
        x = images if kwargs else images.view(-1, 64)
        assert torch.equal(ours(images), theirs(x))
