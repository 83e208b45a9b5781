"""Mixed precision (issue 10): bf16-mixed and 16-mixed train on the CPU under torch.autocast,
differ from float32 (autocast is really on), and resume bitwise, the GradScaler's state
included; devices that this machine lacks are one line."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import learnsys
from learnsys.train.callbacks import Callback
from learnsys.train.checkpoint import Checkpointer

KW = dict(data="synthetic-linear", data_args={"size": 256, "features": 4}, batch_size=32, epochs=6, lr=0.01,
          optimizer="adam", checkpoint_every=10, checkpoint_seconds=0)


class StopAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_step(self, trainer, logs):
        if logs["step"] == self.step:
            trainer.stop("test stop")


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_mixed_precision_trains_and_resumes_bitwise(runs_dir, precision):
    ref = learnsys.fit("mlp:32", runs_dir=runs_dir, run_id="ref", precision=precision, **KW)
    fp32 = learnsys.fit("mlp:32", runs_dir=runs_dir, run_id="fp32", **KW)
    losses = ref.metrics()["train/loss"][1]
    assert losses[-1] < losses[0] and losses != fp32.metrics()["train/loss"][1]
    first = learnsys.fit("mlp:32", runs_dir=runs_dir, run_id="a", precision=precision, callbacks=[StopAt(27)], **KW)
    assert first.result.status == "stopped"
    learnsys.resume("a", runs_dir=runs_dir)
    for k, v in ref.params().items():
        assert torch.equal(v, learnsys.load_run("a", runs_dir=runs_dir).params()[k]), k
    assert ref.history() == learnsys.load_run("a", runs_dir=runs_dir).history()
    state = Checkpointer(runs_dir / "a" / "checkpoints").latest()[0].state
    if precision == "16-mixed":
        assert state["grad_scaler"]["scale"] > 0    # the scaler's state is in the train state
    else:
        assert state["grad_scaler"] is None


def test_bf16_autocast_runs_the_linear_layers_in_bfloat16(runs_dir):
    seen = []

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 1)

        def forward(self, x):
            out = self.lin(x)
            seen.append(out.dtype)
            return out

    learnsys.fit(Probe(), runs_dir=runs_dir, precision="bf16-mixed", **{**KW, "epochs": 1})
    assert seen[0] == torch.float32 and set(seen[1:]) == {torch.bfloat16}  # the shape check runs in float32


def test_devices_this_machine_lacks_are_one_line(cli, runs_dir):
    for device, words in (("cuda:7", "CUDA"), ("tpu", "is not one of")) if not torch.cuda.is_available() else ():
        r = cli("train", "--no-ui", "--runs-dir", runs_dir, "--device", device)
        assert r.code == 2 and words in r.err and r.err.count("\n") == 1
    r = cli("train", "--no-ui", "--runs-dir", runs_dir, "--precision", "8-bit")
    assert r.code == 2 and "precision = '8-bit'" in r.err
