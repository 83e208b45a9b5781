"""The learnsys twins of the lecture 6–9 listings give the listings' numbers, bit for bit
(issue 9): a loss object for a sigmoid model, a built-in multi-feature set, the listing's own
Dataset through learnsys's DataLoader path in DataLoader(shuffle=True)'s order, and the
softmax classifier with the built-in mlp/cnn and the listing's test() as a callback."""

from __future__ import annotations

import pytest
import torch

from .conftest import load_example


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)   # tiny models: more threads only add contention on 2 cores
    yield
    torch.set_num_threads(before)


def _same(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_lecture6_logistic_regression_twin(tmp_path):
    ref = load_example("lec6_logistic_regression").main(seed=0)
    twin = load_example("lec6_logistic_regression_learnsys").main(seed=0, runs_dir=str(tmp_path / "runs"))
    assert torch.equal(ref["w"], twin["w"]) and torch.equal(ref["b"], twin["b"]) and ref["losses"] == twin["losses"]
    with torch.no_grad():
        want = torch.sigmoid(4.0 * ref["w"] + ref["b"]).item()
    assert twin["p_pass_4h"] == want


def test_lecture7_multiple_features_twin(tmp_path):
    ref = load_example("lec7_multiple_features").main(seed=0)
    twin = load_example("lec7_multiple_features_learnsys").main(seed=0, runs_dir=str(tmp_path / "runs"))
    assert _same(ref["state"], twin["state"]) and ref["losses"] == twin["losses"]


def test_lecture8_dataset_dataloader_twin_with_workers(tmp_path):
    ref = load_example("lec8_dataset_dataloader").main(seed=0, epochs=4, workers=2)
    twin = load_example("lec8_dataset_dataloader_learnsys").main(seed=0, epochs=4, workers=2,
                                                                  runs_dir=str(tmp_path / "runs"))
    assert _same(ref["state"], twin["state"])
    # learnsys records each step; the listing's epoch loss is their row-weighted mean
    run = twin["run"]
    steps, losses = run.metrics()["train/loss"]
    assert len(steps) == 4 * 18


@pytest.mark.slow
def test_lecture9_softmax_classifier_twin(tmp_path):
    ref = load_example("lec9_softmax_classifier").main(seed=0, epochs=3)
    twin = load_example("lec9_softmax_classifier_learnsys").main(seed=0, epochs=3, runs_dir=str(tmp_path / "runs"))
    for name in ("mlp", "cnn"):
        mine = twin[name]["state"]
        theirs = ref[name]["model"].state_dict()
        assert all(torch.equal(a, b) for a, b in zip(theirs.values(), mine.values())), name
        assert ref[name]["accuracy"] == twin[name]["accuracy"], name
