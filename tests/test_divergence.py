"""Divergence you can see (lecture 3's "lr too high", issue 11): the guard checks every step on
the CPU, recovers within a few rollbacks, and a run that blows up is 'diverged', exit 1."""

from __future__ import annotations

import json
import sqlite3

import torch

import learnsys


def _events(runs_dir, run_id, kind="divergence"):
    con = sqlite3.connect(runs_dir / "learnsys.sqlite")
    return [(s, m) for s, m in con.execute("SELECT step, message FROM events WHERE run_id = ? AND kind = ? "
                                           "ORDER BY id", (run_id, kind))]


def test_a_too_high_lr_is_caught_at_the_step_it_blows_up_and_recovers(cli, runs_dir):
    r = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--model", "linear-nobias", "--data", "lecture",
            "--init", "w=1", "--lr", "0.25", "--epochs", "30", "--run-id", "hi")
    assert r.code == 0, r.err
    events = _events(runs_dir, "hi")
    # GD on y = 2x from w = 1 with lr 0.25: |w - 2| grows by |1 - 0.25 * 28/3| = 4/3 a step, the loss
    # by 16/9; step k's loss is 4.67 * (16/9)^(k-1), past 1000x the first at k = 14 (the old check came
    # at step 50, long after the curve had left the chart)
    assert len(events) == 1 and events[0][0] == 14 and "lr now 0.125" in events[0][1]
    w = learnsys.load_run("hi", runs_dir=runs_dir).params()["w"].item()
    assert abs(w - 2.0) < 1e-6


def test_an_absurd_lr_reaches_a_working_one_within_a_few_rollbacks(cli, runs_dir):
    r = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--lr", "1e9", "--epochs", "400", "--run-id", "abs")
    assert r.code == 0, r.err
    assert len(_events(runs_dir, "abs")) <= 6
    info = json.loads(cli("show", "abs", "--runs-dir", runs_dir, "--json").out)
    assert info["status"] == "finished" and info["train_loss"] < 1.0    # from 22.8 at the start
    assert all(torch.isfinite(torch.tensor(v)).all() for v in info["params"].values())


def test_without_the_guard_a_blown_up_run_is_diverged_with_exit_1(cli, runs_dir):
    r = cli("train", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--lr", "1e9", "--epochs", "400", "--guard", "off",
            "--run-id", "off")
    assert r.code == 1
    assert "diverged at step 400" in r.out and "learning rate is too high" in r.err and "lr-find" in r.err
    info = json.loads(cli("show", "off", "--runs-dir", runs_dir, "--json").out)
    assert info["status"] == "diverged" and "non-finite" in info["message"]
    # resuming with a smaller lr starts again from the last good state (here: the start)
    r = cli("resume", "off", "--no-ui", "--quiet", "--runs-dir", runs_dir, "--lr", "0.01")
    assert r.code == 0 and "finished" in r.out, r.err


def test_the_guard_gives_up_as_diverged_when_no_lr_works(runs_dir):
    class Explodes(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def forward(self, x):
            return x * self.w * float("inf") if self.training else x * self.w

    run = learnsys.fit(Explodes(), "lecture", epochs=50, runs_dir=runs_dir, run_id="never")
    assert run.result.status == "diverged" and run.exit_code == 1
    assert "after 8 rollbacks" in run.result.reason
