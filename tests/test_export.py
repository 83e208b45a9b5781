"""`learnsys export` (issue 13): each format loads back with its own library, no learnsys, and
predicts what `learnsys predict` prints: safetensors (`load_file` into the model), state-dict
(`torch.load`), TorchScript (`torch.jit.load`), ONNX (onnxruntime). Bitwise where the same
kernels run (all but ONNX Runtime, which is compared to float32 rounding; class ids exactly).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from learnsys import api
from learnsys.models import build_model
from learnsys.spec import RunSpec
from learnsys.train.checkpoint import Checkpointer, read_verified

from .test_checkpoints import _mount_tmpfs

ROWS = [[0.5, -1.0, 2.0], [3.0, 0.25, -2.0], [0.0, 0.1, 0.2], [-4.0, 5.0, 1.5]]
CASES = {  # regression with standardisation, bce and cross-entropy (class ids; probabilities with --proba)
    "mse": dict(data="synthetic-linear", data_args={"size": 80, "features": 3}, model="mlp:8,8",
                model_args={"activation": "tanh"}),
    "bce": dict(data="synthetic-classes", data_args={"size": 80, "features": 3, "classes": 2}, model="logistic"),
    "cross-entropy": dict(data="synthetic-classes", data_args={"size": 80, "features": 3, "classes": 3},
                          model="mlp:8"),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    runs_dir = tmp_path_factory.mktemp("export") / "runs"
    for name, case in CASES.items():
        api.train(RunSpec.from_dict({**case, "epochs": 4, "batch_size": 16, "lr": 0.05, "seed": 2, "run_id": name,
                                     "checkpoint_every": 10, "checkpoint_seconds": 0}), runs_dir=runs_dir)
    return runs_dir


def predicted(cli, runs: Path, run: str, *flags: str) -> torch.Tensor:
    r = cli("predict", run, "--x", *[str(v) for row in ROWS for v in row], "--json", "--runs-dir", runs, *flags)
    assert r.code == 0, r.err
    return torch.tensor(json.loads(r.out)["predictions"], dtype=torch.float32)  # (N, O)


def export(cli, runs: Path, run: str, fmt: str, *flags: str) -> tuple[Path, dict]:
    r = cli("export", run, "--format", fmt, "--json", "--runs-dir", runs, *flags)
    assert r.code == 0, r.err
    info = json.loads(r.out)
    return Path(info["path"]), info


def by_hand(model: torch.nn.Module, info: dict) -> torch.Tensor:
    """What a user does with bare weights: standardise as the metadata says, run, apply the output rule."""
    x = torch.tensor(ROWS, dtype=torch.float32)                               # (N, F)
    mean, std = info["standardise"]["mean"], info["standardise"]["std"]
    if mean:
        x = (x - torch.tensor(mean, dtype=torch.float32)) / torch.tensor(std, dtype=torch.float32)
    with torch.no_grad():
        out = model.eval()(x)                                                 # (N, O)
    loss = info["loss"]
    if info["output"] == "class":   # the class ids predict prints, (N,)
        return (out.argmax(1) if loss == "cross-entropy" else (out.reshape(-1) > 0).long()).float()
    if info["output"] == "probability":
        return torch.softmax(out, 1) if loss == "cross-entropy" else torch.sigmoid(out)
    return out


def fresh_model(info: dict) -> torch.nn.Module:
    return build_model(info["model"], info["n_features"], info["n_outputs"], info["model_args"])


@pytest.mark.parametrize("case", list(CASES))
def test_safetensors_loads_into_the_model_and_predicts_the_same(cli, runs, case):
    path, info = export(cli, runs, case, "safetensors")
    assert path == runs / case / "exports" / f"step-{info['step']:08d}.safetensors"
    model = fresh_model(info)
    model.load_state_dict(load_file(path))  # the model's own keys, nothing else
    with safe_open(str(path), "pt") as f:
        assert json.loads(f.metadata()["learnsys"]) == {k: v for k, v in info.items() if k != "path"}
    assert torch.equal(by_hand(model, info), predicted(cli, runs, case))


@pytest.mark.parametrize("case", list(CASES))
def test_a_state_dict_loads_with_torch_load_and_predicts_the_same(cli, runs, case):
    path, info = export(cli, runs, case, "state-dict")
    model = fresh_model(info)
    model.load_state_dict(torch.load(path, weights_only=True))
    assert json.loads(path.with_name(path.name + ".json").read_text())["standardise"] == info["standardise"]
    assert torch.equal(by_hand(model, info), predicted(cli, runs, case))


@pytest.mark.parametrize("case", list(CASES))
def test_torchscript_loads_with_torch_jit_load_and_predicts_the_same(cli, runs, case):
    path, info = export(cli, runs, case, "torchscript")
    extra = {"learnsys.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated upstream
        module = torch.jit.load(str(path), _extra_files=extra)
    assert json.loads(extra["learnsys.json"])["step"] == info["step"]
    x = torch.tensor(ROWS, dtype=torch.float32)  # raw rows: the standardisation is inside
    assert torch.equal(module(x).float(), predicted(cli, runs, case))
    assert module(x[:1]).shape[1:] == predicted(cli, runs, case).shape[1:]  # any batch size
    path, info = export(cli, runs, case, "torchscript", "--proba")
    if case != "mse":  # classifiers: --proba exports what predict --proba prints
        module = torch.jit.load(str(path))
        assert info["output"] == "probability"
        assert torch.allclose(module(x), predicted(cli, runs, case, "--proba"))


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_onnx_runs_in_onnxruntime_and_predicts_the_same(cli, runs, case):
    path, info = export(cli, runs, case, "onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["x"]
    expected = predicted(cli, runs, case).numpy()
    for rows in (ROWS, ROWS[:1]):  # the batch dimension is free
        (out,) = session.run(None, {"x": np.asarray(rows, dtype=np.float32)})
        if info["output"] == "class":
            assert np.array_equal(out, expected[:len(rows)])
        else:  # another runtime's kernels: equal to float32 rounding, not bitwise
            np.testing.assert_allclose(out, expected[:len(rows)], rtol=1e-5, atol=1e-6)
    import onnx

    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(props["learnsys"])["run"] == case


def test_checkpoint_best_and_step_pick_those_weights(cli, runs):
    ckpts = runs / "mse" / "checkpoints"
    steps = sorted(int(p.stem[5:]) for p in ckpts.glob("step-*.pt"))
    assert len(steps) >= 2
    Checkpointer(ckpts).save_best(steps[0], read_verified(ckpts / f"step-{steps[0]:08d}.pt"), "dev/loss", 0.1)
    at_first = predicted(cli, runs, "mse", "--checkpoint", str(steps[0]))
    assert not torch.equal(at_first, predicted(cli, runs, "mse"))  # other weights, other predictions
    assert torch.equal(predicted(cli, runs, "mse", "--checkpoint", "best"), at_first)
    path, info = export(cli, runs, "mse", "safetensors", "--checkpoint", "best", "--out", runs / "best.safetensors")
    assert info["step"] == steps[0] and path == runs / "best.safetensors"
    model = fresh_model(info)
    model.load_state_dict(load_file(path))
    assert torch.equal(by_hand(model, info), at_first)


def test_bad_export_requests_are_one_line(cli, runs, monkeypatch):
    before = sorted((runs / "mse").rglob("*"))
    cases = [(("--format", "pickle"), "Unknown export format 'pickle'; choose one of safetensors, torchscript"),
             (("--format", "onnx", "--checkpoint", "12345"), "No checkpoint at step 12345 in"),
             (("--format", "onnx", "--checkpoint", "newest"), "--checkpoint 'newest' is not best, last or a step"),
             (("--format", "onnx", "--out", runs), "is a folder; give a file path")]
    for flags, says in cases:
        r = cli("export", "mse", "--runs-dir", runs, *flags)
        assert r.code == 2 and r.out == "" and r.err.count("\n") == 1 and r.err.startswith("error: ") and says in r.err
    import learnsys.export as export_module

    real = export_module.importlib.util.find_spec
    monkeypatch.setattr(export_module.importlib.util, "find_spec", lambda name: None if name == "onnxscript" else
                        real(name))
    r = cli("export", "mse", "--format", "onnx", "--runs-dir", runs)
    assert r.code == 2 and r.err.strip() == ("error: Export to onnx needs the onnxscript package: pip install "
                                             "onnxscript (or pip install 'learnsys[export]').")
    assert sorted((runs / "mse").rglob("*")) == before  # nothing written


def test_a_run_without_a_checkpoint_says_so(cli, runs, tmp_path):
    api.train(RunSpec.from_dict({**CASES["mse"], "epochs": 1, "run_id": "empty"}), runs_dir=tmp_path)
    for p in (tmp_path / "empty" / "checkpoints").iterdir():
        p.unlink()
    r = cli("export", "empty", "--format", "torchscript", "--runs-dir", tmp_path)
    assert r.code == 2 and "This run has no trained model yet" in r.err and r.err.count("\n") == 1


def test_a_full_disk_during_an_export_is_one_line_and_leaves_nothing(cli, runs, tmp_path):
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "4k")
    try:
        r = cli("export", "mse", "--format", "state-dict", "--out", disk / "m.pt", "--runs-dir", runs)
        assert r.code != 0 and r.err.startswith(f"error: Cannot write the export {disk / 'm.pt'}") and \
            "No space left on device" in r.err and r.err.count("\n") == 1
        assert list(disk.iterdir()) == []
    finally:
        import subprocess

        subprocess.run(["umount", str(disk)], check=True)
