"""Training control (issue 13): early stopping at the exact step and across resume, gradient
clipping against plain PyTorch with the norm recorded, and the per-step hook."""

from __future__ import annotations

import torch
from torch import nn

import learnsys
from learnsys.train.callbacks import Callback


def _series(run, name):
    return run.metrics()[name]


def test_early_stopping_stops_at_the_exact_step_patience_runs_out(runs_dir):
    run = learnsys.fit("linear", "synthetic-linear", dev=0.2, batch_size=50, epochs=500, lr=0.05, eval_every=3,
                       early_stop="dev/loss:5:0.0001", runs_dir=runs_dir, run_id="es")
    steps, values = _series(run, "dev/loss")
    best = min(range(len(values)), key=lambda i: values[i])
    # by the rule: the first dev value that is not better by 1e-4 than the best so far, five times in a row
    best_value, waited, stop = values[0], 0, None
    for step, value in zip(steps[1:], values[1:]):
        if value < best_value - 1e-4:
            best_value, waited = value, 0
        else:
            waited += 1
            if waited == 5:
                stop = step
                break
    assert run.result.status == "finished" and run.result.step == stop == steps[-1]
    assert "early stop: dev/loss" in run.result.reason and f"at step {steps[best]}" in run.result.reason


def test_early_stopping_is_exact_across_a_resume(runs_dir):
    kw = dict(dev=0.2, batch_size=50, epochs=500, lr=0.05, eval_every=3, early_stop="dev/loss:5:0.0001",
              checkpoint_every=10, checkpoint_seconds=0, runs_dir=runs_dir)
    ref = learnsys.fit("linear", "synthetic-linear", run_id="ref", **kw)

    class StopAt(Callback):
        def on_step(self, trainer, logs):
            if logs["step"] == ref.result.step - 7:  # between two evaluations, off the checkpoint schedule
                trainer.stop("test stop")

    first = learnsys.fit("linear", "synthetic-linear", run_id="a", callbacks=[StopAt()], **kw)
    assert first.result.status == "stopped"
    second = learnsys.resume("a", runs_dir=runs_dir)
    assert second.result.step == ref.result.step and second.result.reason == ref.result.reason
    assert learnsys.resume("a", runs_dir=runs_dir).result.reason.startswith("already finished")


def test_clip_grad_norm_matches_plain_pytorch_and_records_the_norm(runs_dir):
    run = learnsys.fit("linear", "lecture", lr=0.05, epochs=20, clip_grad_norm=1.0, runs_dir=runs_dir)
    torch.manual_seed(0)
    model = nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = torch.tensor([[1.0], [2.0], [3.0]]), torch.tensor([[2.0], [4.0], [6.0]])
    norms = []
    for _ in range(20):
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        norms.append(nn.utils.clip_grad_norm_(model.parameters(), 1.0).item())
        opt.step()
    assert torch.equal(run.params()["linear.weight"], model.weight.detach())
    assert _series(run, "grad_norm")[1] == norms and norms[0] > 1.0


def test_the_per_step_hook_sees_every_step_in_order(runs_dir):
    class EveryStep(Callback):
        def __init__(self):
            self.steps, self.losses = [], []

        def on_step(self, trainer, logs):
            self.steps.append(logs["step"])
            self.losses.append(logs["loss"].item())
            if logs["step"] == 37:
                trainer.stop("stop at 37, exactly")

    hook = EveryStep()
    run = learnsys.fit("linear", "synthetic-linear", batch_size=10, epochs=5, runs_dir=runs_dir, callbacks=[hook])
    assert hook.steps == list(range(1, 38)) and run.result.step == 37
    assert hook.losses == _series(run, "train/loss")[1]


def test_keep_best_keeps_the_checkpoint_of_the_best_dev_value_and_predict_uses_it(cli, runs_dir):
    run = learnsys.fit("mlp:16", "synthetic-linear", dev=0.2, batch_size=40, epochs=30, lr=0.3, eval_every=5,
                       keep_best="dev/loss", checkpoint_every=10, checkpoint_seconds=0, keep_checkpoints=1,
                       runs_dir=runs_dir, run_id="kb")
    steps, values = _series(run, "dev/loss")
    best_step = steps[min(range(len(values)), key=values.__getitem__)]
    best_files = list((runs_dir / "kb" / "checkpoints").glob("best-*.pt"))
    assert [p.name for p in best_files] == [f"best-{best_step:08d}.pt"]
    state = torch.load(best_files[0], weights_only=True)
    assert state["progress"]["step"] == best_step
    r = cli("predict", "kb", "--runs-dir", runs_dir, "--x", *["0.5"] * run.folder.meta()["n_features"],
            "--checkpoint", "best", "--json")
    assert r.code == 0, r.err
    model = nn.Sequential(nn.Linear(run.folder.meta()["n_features"], 16), nn.ReLU(), nn.Linear(16, 1))
    model.load_state_dict({k.removeprefix("net."): v for k, v in state["model"].items()})
    with torch.no_grad():
        want = model(torch.full((1, run.folder.meta()["n_features"]), 0.5)).tolist()
    import json as _json
    assert _json.loads(r.out)["predictions"] == want
