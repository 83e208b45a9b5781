"""A failure inside the loop keeps what it had (issue 12): the metric rows, a checkpoint when the
state is sane, one error line naming the step and the user's frame, the traceback in log.txt,
and a run that resumes once the cause is fixed, bitwise as if it had never failed."""

from __future__ import annotations

import json
import sqlite3

import torch

import learnsys
from learnsys.errors import TrainingFailed

NET = """import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 1)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.training and self.calls == FAIL_AT:
            raise ValueError("bad batch in my model")
        return self.linear(x)
"""


def _rows(runs_dir, run_id, name="train/loss"):
    con = sqlite3.connect(runs_dir / "learnsys.sqlite")
    return [s for (s,) in con.execute("SELECT m.step FROM metrics m JOIN series s ON s.id = m.series_id "
                                      "WHERE s.run_id = ? AND s.name = ? ORDER BY m.step", (run_id, name))]


def test_a_user_model_that_raises_keeps_its_rows_and_resumes_bitwise_after_the_fix(cli, runs_dir, tmp_path):
    net = tmp_path / "net.py"
    common = ["--no-ui", "--quiet", "--runs-dir", runs_dir, "--model", f"{net}:Net", "--batch-size", "1",
              "--epochs", "40", "--checkpoint-every", "1000"]
    net.write_text(NET.replace("FAIL_AT", "-1"))
    assert cli("train", *common, "--run-id", "ref").code == 0
    net.write_text(NET.replace("FAIL_AT", "31"))  # the 31st forward is step 30's (the 1st checks the shapes)
    r = cli("train", *common, "--run-id", "a")
    lines = r.err.strip().splitlines()
    assert r.code == 1 and len(lines) == 1, r.err
    assert "failed after step 29" in lines[0] and "ValueError: bad batch in my model" in lines[0]
    assert "net.py:13 in forward" in lines[0] and "learnsys resume a" in lines[0]
    assert _rows(runs_dir, "a") == list(range(1, 30))          # no step lost
    assert (runs_dir / "a" / "checkpoints" / "step-00000029.pt").exists()
    log = (runs_dir / "a" / "log.txt").read_text()
    assert "Traceback (most recent call last)" in log and "bad batch in my model" in log
    status = json.loads(cli("show", "a", "--runs-dir", runs_dir, "--json").out)["status"]
    assert status == "failed"
    net.write_text(NET.replace("FAIL_AT", "-1"))              # the user fixes the cause
    assert cli("resume", "a", "--no-ui", "--quiet", "--runs-dir", runs_dir).code == 0
    ref, got = learnsys.load_run("ref", runs_dir=runs_dir), learnsys.load_run("a", runs_dir=runs_dir)
    for k, v in ref.params().items():
        assert torch.equal(v, got.params()[k]), k
    assert [r for r in ref.history()] == [r for r in got.history()]


def test_a_failing_scheduler_at_an_epoch_end_reports_and_keeps_the_rows(runs_dir):
    calls = []

    def schedule(optimizer):
        class Bad(torch.optim.lr_scheduler.LRScheduler):
            def get_lr(self):
                calls.append(1)
                if len(calls) > 5:
                    raise RuntimeError("schedule broke")
                return list(self.base_lrs)
        return Bad(optimizer)

    try:
        learnsys.fit("linear", "lecture", scheduler=schedule, epochs=20, runs_dir=runs_dir, run_id="s")
        raise AssertionError("the run should fail")
    except TrainingFailed as e:
        assert "failed after step 5" in str(e) and "schedule broke" in str(e)
    assert _rows(runs_dir, "s") == [1, 2, 3, 4, 5]
    # the failure came inside an epoch end's bookkeeping: no checkpoint of a half-done step
    assert not (runs_dir / "s" / "checkpoints" / "step-00000005.pt").exists()


def test_a_dataset_item_that_raises_is_named_by_its_index(runs_dir):
    class Flaky(torch.utils.data.Dataset):
        def __len__(self):
            return 40

        def __getitem__(self, i):
            if i == 37:
                raise KeyError("row 37 is gone")
            return torch.tensor([float(i)]), torch.tensor([2.0 * i])

    try:
        learnsys.fit("linear", Flaky(), batch_size=8, shuffle=False, epochs=3, lr=1e-4, runs_dir=runs_dir,
                     run_id="d")
        raise AssertionError("the run should fail")
    except TrainingFailed as e:
        assert "Dataset item 37 could not be loaded" in str(e) and "failed after step 4" in str(e)
    assert _rows(runs_dir, "d") == [1, 2, 3, 4]
